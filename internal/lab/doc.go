// Package lab builds the inline set-up ftptap is made for out of Linux
// network namespaces, with real FTP servers and clients, for end-to-end
// tests, recordings and the demo.
//
// # Topology
//
//	client ns                 tap ns                        server ns
//	eth0 10.77.0.2/24  ——  porta ┐                 ┌ portb  ——  eth0 10.77.0.1/24 (vsftpd)
//	     fd77::2/64             bridge (no IP)             10.77.0.3/24 (pure-ftpd)
//	                                                        fd77::1/64 (vsftpd), fd77::3/64 (pure-ftpd)
//
// Port A faces the client, port B the server, as in the captures under
// ../shared/corpus/gen. Every veth has TSO, GSO, GRO and checksum offload
// turned off, so frames look as they would on a wire, and IPv6 duplicate
// address detection is off, so addresses work at once. The bridge is made
// by ftptap itself (ftptap run creates or adopts one), or by the lab
// (Options.Bridge) when something else watches, such as tcpdump alone.
//
// # Servers
//
// vsftpd (the Debian package) listens on 10.77.0.1:21 and [fd77::1]:21
// with passive ports 40000-40099; pure-ftpd (its Debian package unpacked
// into a cache folder, since the two packages conflict) on 10.77.0.3:21
// and [fd77::3]:21 with passive ports 40100-40199. Both serve anonymous
// downloads from pub/ (files of fixed sizes and contents: see Files),
// anonymous uploads into upload/, and a local user (User, Password) whose
// home holds home.bin. The server namespace gets its own passwd, shadow
// and group through /etc/netns/NAME, so the host's user database is left
// alone.
//
// # TFTP
//
// StartTFTP adds tftpd-hpa (the Debian package) on 10.77.0.1:69 and
// [fd77::1]:69 and atftpd (its package unpacked, since the two conflict)
// on 10.77.0.3:69, serving TFTPRoot. The clients are tftp-hpa, atftp and
// curl's tftp://. TFTPScenarios play reads, writes, options, errors and
// the firewall that blocks the server's reply from its new port;
// PlayTFTP writes their truth in check_tftp.py's format.
//
// # Clients and truth
//
// Curl and Lftp run the real clients in the client namespace and keep
// their transcripts (the commands they sent, the replies they read).
// Record captures what enters each bridge port (tcpdump -Q in). Truth
// joins the transcripts with the TCP connections seen in the capture into
// the truth.json of the corpus, which internal/truth scores events against.
//
// Everything a Lab starts is stopped, by process group, and every
// namespace it made is deleted, by its generated name, when it is closed
// (New registers that with t.Cleanup).
package lab
