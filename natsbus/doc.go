// Package natsbus publishes ftptap events over NATS and runs the embedded
// NATS server a tap uses when no external server is configured.
//
// # Subjects
//
// Every event goes to "ftptap.<tap>." followed by event.Event.Subject:
//
//	ftptap.lab1.session.start
//	ftptap.lab1.request.USER        (the command, as one token)
//	ftptap.lab1.response.227        (the reply code)
//	ftptap.lab1.data.open.passive   (the mode, for data.* events)
//	ftptap.lab1.transfer.end
//	ftptap.lab1.alert.<kind>
//	ftptap.lab1.status              (counters every few seconds)
//
// The payload is the event's JSON, the same bytes ftptap replay prints. The
// header Nats-Msg-Id is "<tap>.<boot>.<seq>", where boot is random for each
// start of the process, so JetStream drops a re-sent event as a duplicate
// and two runs of the same tap never collide.
//
// # Delivery
//
// A Publisher is a pipeline sink. Its Event method never waits for the
// network: it copies the event into a bounded in-memory queue and returns.
// A writer goroutine moves queued events into a spool (in memory, or on disk
// when Options.SpoolDir is set), and a sender goroutine publishes the spool
// in order, a window at a time, and removes events only once the server has
// acknowledged them (a JetStream PubAck, or a flush round trip in core
// mode). While the server is out of reach the spool grows; after reconnect
// the sender resends from the oldest unacknowledged event, and the
// Nats-Msg-Id header lets JetStream drop whatever had been stored before the
// acknowledgement was lost. nats.go's own reconnect buffer is turned off: it
// lives in memory and silently loses what it holds when the process exits.
//
// When the queue or the spool is full, new events are dropped, counted, and
// reported through Options.OnDrop, which ftptap turns into an alert event
// (alert.nats_overflow): an overflow is never silent.
//
// # Embedded server
//
// StartServer runs nats-server in the process with JetStream, listening on
// one address (the tap's management address), with a file-backed stream per
// tap that is capped in bytes and compressed, sized for an SD card. The
// publisher connects to it in-process, so it is always reachable and the
// stream itself is the durable store. When a write to the store fails (a
// full disk), nats-server stops storing to the stream for as long as it
// runs: the Server then restarts it on the same store once the disk has
// room, and the in-process connection follows. With leaf remotes the server also
// joins a hub cluster as a leaf node in its own JetStream domain (the tap
// id by default); the hub then keeps a stream that sources from each tap's
// domain, and JetStream itself carries the backlog across outages.
package natsbus
