// Package carve writes every file an FTP session moves, as the capture saw
// it, to a directory: RETR, STOR, APPE and STOU (under the name the
// server's reply gives), and LIST, NLST and MLSD listings as text files.
//
// # Where the bytes come from
//
// A Carver is a pipeline sink with two of the pipeline's optional
// interfaces. As a pipeline.DataObserver it is handed each data-channel
// segment that the tracker ties to a transfer, with its offset in the
// transfer's stream (ftpstate.Config.OnData); as a pipeline.Annotator it
// sees each event before the other sinks and adds sha256, carved and gaps
// to transfer.end.
//
// gopacket's reassembly package is not used, for two reasons. The tracker
// already knows which connection carries which transfer (the announcement
// it fulfils, a SYN held until its PASV reply comes through the other tap
// port, a NAT'd address, a retry after a refusal) and numbers each
// segment's bytes from its sequence numbers; a second reassembler would
// have to redo both and could disagree. And reassembly buffers
// out-of-order pages in memory until the gap fills, while a carved file can
// take every segment where it belongs at once: the file is the reorder
// buffer, so memory stays bounded whatever the transfer's size or holes.
//
// # Order, retransmissions, overlaps and gaps
//
// Each segment is written at its offset (pwrite). Bytes already written are
// kept: the first copy of a byte that the capture saw wins over any later
// retransmission or overlapping segment, even one that disagrees with it.
// The tracker's command channels trim overlaps the same way, and it keeps
// the hash stable: the SHA-256 is computed as the file's bytes become
// contiguous from offset 0, straight from the segment when it comes in
// order and read back from the file when a late segment fills a hole.
// Bytes the capture never had are holes, which read as zeros; the transfer's
// size comes from sequence numbers, so a missing tail is zeros too, and
// gaps counts them all.
//
// # Files
//
// A file is written to DIR/.incoming under a temporary name and renamed
// when its transfer ends to DIR/<date>/s<session>/<name>, where date is
// the UTC day of the transfer's end and name is the file's own name made
// safe (SafeName). A name already taken is numbered (a-2.bin). A file with
// gaps, cut short by a cap, or whose transfer did not complete ends in
// ".partial". Beside each file, <name>.ftptap.json says what it is: session,
// endpoints, command, the name as sent, bytes, the REST offset the file
// starts at (RFC 3659 section 5), gaps, why it was cut, and its SHA-256.
//
// # Limits
//
// A file stops growing at Config.MaxFileBytes (an alert, carve_file_cap).
// Carving stops for the rest of the run when Config.MaxTotalBytes have been
// written, when the disk has less than Config.MinFreeBytes free, or when a
// write fails (a full disk): one alert, carve_stopped, and the Stopped
// counter; the tap goes on. Transfers of a session gone TLS are not carved
// (ciphertext): one carve_tls alert per session.
package carve
