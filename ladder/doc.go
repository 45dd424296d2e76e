// Package ladder draws the ladder diagram of one FTP session (or TFTP
// transfer) as SVG: who
// sends what to whom, and who connects to whom, over time. Wireshark's Flow
// Graph (Statistics → Flow Graph) draws the same kind of picture after the
// fact; ladder draws it from ftptap's events.
//
// # The picture
//
// The client's lifeline is on the left, the server's on the right, time runs
// down the page and each row carries its time since the session began.
//
//	request      a thin solid arrow, client → server: "RETR file.bin"
//	reply        a thin solid arrow, server → client: "226 Transfer complete."
//	data         a thick dashed arrow from the side that opened the data
//	             connection: server → client in active mode (PORT, EPRT),
//	             client → server in passive mode (PASV, EPSV). Active mode
//	             has long dashes, passive mode short ones, and every label
//	             names the mode, so the picture reads without colour.
//	failure      a data arrow that ends in a cross where the attempt ended:
//	             at the far lifeline for a connection refused (RST), half way
//	             for one that was never answered (timeout)
//	note         a box between the lifelines: the login, a transfer's
//	             outcome, a data connection's close, an alert
//
// Every label is an SVG text element (commands with their arguments, reply
// codes and texts, addresses and ports), so a diagram can be searched,
// copied and read by a screen reader. Long labels are cut with "…"; the
// whole text is in the step's title element. Strings from the wire are
// escaped as XML text. The diagram carries its own light and dark styles
// (prefers-color-scheme).
//
// Each drawn step is a g element with class "step" and data attributes that
// say what it is: data-kind (request, reply, data, fail, note), data-from
// and data-to (client, server) for arrows, data-mode (active, passive) for
// data connections and data-reason for failures.
//
// # TFTP
//
// A TFTP transfer's diagram (Proto event.ProtoTFTP, id "t1") draws its
// tftp.request and tftp.end events: the request to port 69; the port
// switch (kind "switch"), the server's first answer from its new port, its
// transfer ID, drawn dash-dotted and ending in a cross when the client
// never acknowledged it (data-reason "unacknowledged"); one note that sums
// up the blocks and ACKs; the outcome and the alerts. Arrows of TFTP carry
// data-port, the server's port they meet. Steps whose time the events do
// not give are marked "…" in the time column.
//
// # Bounds
//
// A Diagram keeps at most MaxSteps steps; the rest are counted and the
// diagram says how many were left out. The package is pure: events in, SVG
// bytes out, no I/O.
package ladder
