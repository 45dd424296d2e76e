// Package event is the vocabulary every tracker and sink of ftptap shares:
// the decoded packet a tracker is fed (Packet) and the typed Event it
// reports, with its JSON form (AppendJSON) and NATS subject (Subject).
//
// One Event type serves every protocol: Proto says which tracker made an
// event (ftp, tftp), and which fields are meaningful depends on Type. The
// JSON form is the event contract that subscribers and outside checks
// read: fields are added, never renamed.
package event
