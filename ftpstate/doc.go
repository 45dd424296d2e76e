// Package ftpstate follows FTP sessions through the TCP segments of a
// capture and reports what happens in them as typed events.
//
// It is pure: segments with their capture timestamps go in (Tracker.Feed),
// events come out through the function given to New, on the caller's
// goroutine. There is no I/O, no goroutine and no clock but the packets'
// (and Tracker.Advance), so a capture replays to the same events every
// time.
//
// # Command channels
//
// A TCP connection to one of the control ports (21 unless configured) is a
// session (RFC 959). Each direction is put back in order: retransmissions
// are dropped, overlaps trimmed, early segments buffered up to a cap. The
// two directions are ordered against each other by their acknowledgements,
// so a reply that overtakes its command (through the other tap port) still
// answers it, and bytes the peer acknowledges that never show up in the
// capture are skipped as a gap, with the command lost in it standing in the
// queue of commands awaiting replies. Commands are split into name and
// argument; replies are read as RFC 959 section 4.2 says, multi-line ones
// included, and each is matched to the command it answers (preliminary 1xx
// replies leave the command waiting for its final reply). The first reply
// of a session is the greeting. A line without a valid reply code is
// reported (an alert) and tracking goes on. A session caught mid-way (no
// SYN seen) is picked up from its first segment with data.
//
// # Data channels
//
// PORT, EPRT and LPRT (active mode) and the replies to PASV, EPSV and LPSV
// (passive mode; RFC 959, RFC 2428, RFC 1639) announce a data channel: an
// expectation of a TCP connection to an endpoint, the client's in active
// mode, the server's in passive mode (EPSV names a port only: the server's
// address is meant). The connection that fulfils it is tied to its session;
// a SYN that comes just before the reply announcing its port (through the
// other tap port) is held briefly and matched. A data connection answered
// by a RST fails as refused, one never answered as timeout, an announcement
// nobody connected to as unused; each failure carries a plain-language
// diagnosis. Announced addresses that are not the peer's own are reported
// (a NAT that does not rewrite them, or an FTP bounce, RFC 2577), and the
// peer's own address with the announced port is matched too.
//
// Data connections count their bytes from sequence numbers, so nothing is
// counted twice and bytes missing from the capture are still counted.
// Nothing on the path of a data-channel or unrelated segment allocates.
//
// # Transfers
//
// RETR, STOR, STOU, APPE, LIST, NLST and MLSD take the newest announcement
// and its connection. A transfer ends when both its final reply and the end
// of its data connection are in (or one of them and a linger), with its
// bytes, final code, completeness and duration.
//
// # Security and limits
//
// AUTH TLS or SSL accepted with 234 (RFC 4217) turns the command channel
// dark: a tls event says so, and the connections between the two hosts are
// still tracked as its data channels. PASS arguments are redacted unless
// Config.ShowPasswords. Everything a peer can grow is capped by Config:
// sessions, data connections, announcements and pending commands per
// session, line length, out-of-order bytes; a cap hit is counted and
// reported as an alert event, and tracking of everything else goes on.
//
// # Events
//
// Event.AppendJSON writes the JSON form that ftptap prints and publishes:
// v, tap, seq, ts, type, session, client and server in every event, then the
// fields of its type (session.start, session.end, request, response, login,
// data.expect, data.open, data.fail, data.close, transfer.end, tls, alert).
package ftpstate
