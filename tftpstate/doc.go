// Package tftpstate follows TFTP transfers (RFC 1350) in captured UDP
// datagrams and reports them as events, as ftpstate does for FTP. It is
// pure: packets with capture timestamps in (event.Packet, UDP datagrams and
// ICMP unreachables), typed events out. It does no I/O, starts no
// goroutines and reads no clock.
//
// # Transfers
//
// A client sends a read request (RRQ) or write request (WRQ) to port 69:
// a file name, a mode (octet, netascii, mail) and, by RFC 2347, options
// (blksize of RFC 2348, tsize and timeout of RFC 2349, windowsize of RFC
// 7440). The server answers from a new port of its own, its transfer ID,
// with DATA block 1 (a read), ACK block 0 (a write), an OACK naming the
// options it accepts, or an ERROR. From then on the two ports exchange DATA
// and ACK block by block; a block shorter than the block size (possibly
// empty, when the file is a multiple of it) is the last, and the transfer
// is complete once that block is acknowledged. Block numbers are 16 bits
// and wrap past 65535; the tracker counts them on.
//
// Each transfer is keyed by the client's endpoint, which RFC 1350 keeps for
// the whole transfer. Repeated requests, DATA blocks and ACKs are counted
// once (and as retransmits); bytes come from the blocks' sizes, so a
// retransmission is never counted twice. A tftp.end reports the bytes
// acknowledged (known to have arrived) and the bytes sent.
//
// # Events
//
// A request gives a tftp.request event; its end a tftp.end, with reason
// done (the last block acknowledged), error (an ERROR packet, codes 0-8
// named as in RFC 1350 and 2347), timeout (no packet for Config.Timeout, or
// a stalled transfer when the capture ends) or shutdown (still moving when
// the capture ends). Session ids are the tracker's own ("t1", "t2" in JSON).
//
// # Diagnoses
//
// Alerts say in plain words what went wrong: tftp_no_reply (the request
// was never answered; an ICMP port unreachable says nothing listens, while
// silence means nothing listens or a firewall drops it), tftp_reply_blocked
// (the server answered from its new port and the client never acknowledged:
// a firewall or NAT that lets port 69 through but not the reply from
// another port, with the fix), tftp_error, tftp_stall (a transfer that
// stopped mid-way), and tftp_size_mismatch, tftp_capture_gap,
// tftp_malformed and tftp_too_many_transfers.
package tftpstate
