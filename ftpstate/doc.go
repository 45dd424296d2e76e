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
// SYN seen) is picked up from its first segment with data, or from its FIN
// when the capture shows only its teardown (FIN, FIN, ACK): a session with
// no commands, as a SYN answered by a RST is.
//
// One FIN ends one direction only: after the client's FIN the server may
// still send its last replies (a 226 and 221, vsftpd's "500 OOPS: ...")
// and a RST may follow; they are the same session's. A session with one
// FIN ends once it has been quiet for 60 s (Linux's FIN-WAIT-2 time), in
// case the other FIN is missing from the capture; the same FIN
// retransmitted alone (its peer never acknowledges it) is not activity. A segment of one byte
// at seq = ack-1, where ack is what the receiver has already acknowledged,
// is a TCP keep-alive (RFC 9293 section 3.8.4, the byte often 0x00): old
// data, never part of a request or reply, and a lone byte never starts a
// session.
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
// by a RST fails as refused, one never answered as timeout; each failure
// carries a plain-language diagnosis. An announcement is reported unused
// when the server refuses it (a 4xx or 5xx to PORT), when a newer one
// replaces it with no connection made to it, when a transfer that took it
// ends with no connection made, when no transfer command has taken it for
// Config.DataTimeout (30 s) since it was made, or since a refused command
// gave it back (below), with no connection made to it, or when the session
// ends. Each is reported once.
//
// Announced addresses that are not the peer's own are reported: a private
// one from a public peer (or 0.0.0.0) as a NAT that does not rewrite them,
// any other PORT or EPRT address as an FTP bounce (RFC 2577). The peer's
// own address with the announced port is matched too: a server that
// connects to the client instead of the host PORT named (the address was
// rewritten on the way, or the server will not connect to a third host)
// makes the transfer's connection. The bounce alert waits for the outcome
// and says what it was: the server refused the address, connected to the
// third host, connected to the client instead, or nothing was seen.
//
// Data connections count their bytes from sequence numbers, so nothing is
// counted twice and bytes missing from the capture are still counted.
// Nothing on the path of a data-channel or unrelated segment allocates.
//
// # Transfers
//
// RETR, STOR, STOU, APPE, LIST, NLST and MLSD take the newest announcement
// and its connection. In a session caught mid-way that has shown no
// announcement yet (the capture began between PASV and RETR), a transfer
// takes the data connection between the session's two hosts instead: the
// SYN held from just before the command, or the next one. A transfer ends
// when both its final reply and the end of its data connection are in (or
// one of them and a linger), with its bytes, final code, completeness (a
// 2xx final reply, and a data connection not reset before its FIN) and
// duration. A data FIN that starts beyond the bytes seen came ahead of
// some of them (reordered between the tap's two ports, or on the way): the
// connection's bytes end once a segment reaches it or the other side's FIN
// comes, so that the segments behind it still count and reach OnData,
// unless Config.DataFiltered says that the source keeps data bytes out.
//
// A transfer command the server refuses outright (a final 4xx or 5xx other
// than 425 and 426, with no 1xx before it and no connection attempted for
// it: 550 for a missing file, 553, 450, 530) does not use up the
// announcement: the server still listens on its passive port or still holds
// the PORT address, and the next transfer command takes it, with a
// connection the client already made to it. A 425 or 426 speaks of the
// data connection itself, and retires the announcement with the transfer.
//
// An announcement reported unused for the timeout is still matched until a
// newer one replaces it or the session ends. Servers differ in how long
// they listen: vsftpd keeps its passive port open until the next transfer
// command, however late; others close it after a while. So the report
// says what the capture showed by then (nothing took it), and a
// connection made to the same endpoint later is still the next transfer's,
// with its data.open, rather than lost to a transfer of unknown mode: the
// endpoint and the session's hosts make the match as sure as before the
// timeout. A transfer command that takes an expired announcement and gets
// no connection to it reports mode unknown and no endpoint, as nothing
// shows that the server still listened there.
//
// When no data connection of a transfer crossed the tap but the server's
// replies show one was made (a 1xx not followed by 425, or a 226 or 250
// for an announced channel), the tap most likely sees the command channel
// only: a SPAN or mirror of port 21 alone, asymmetric routing, a data path
// that bypasses the tap. The transfer.end then says data_seen false and
// carries no byte count (they are unknown, not 0), the announcement is not
// reported unused, and one data_not_seen alert per session explains it. A
// 1xx and a final reply to a command lost from the capture show the same
// of the newest announcement: it is retired, not reported unused, and no
// transfer is made up for a command nobody saw.
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
// Config.MaxBytes bounds their sum: past it, or past Config.MaxSessions
// when a session starts, the session idle longest is evicted (session.end
// with reason evicted), among those that have carried no command or reply
// yet first; see budget.go. A command channel whose SYN nothing answers
// ends after Config.HandshakeTimeout (reason timeout), as a data
// connection's does after Config.DataTimeout.
//
// # Events
//
// Event.AppendJSON writes the JSON form that ftptap prints and publishes:
// v, tap, seq, ts, type, session, client and server in every event, then the
// fields of its type (session.start, session.end, request, response, login,
// data.expect, data.open, data.fail, data.close, transfer.end, tls, alert).
package ftpstate
