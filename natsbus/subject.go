package natsbus

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"

	"github.com/ftptap/ftptap/event"
)

// Prefix is the first token of every ftptap subject.
const Prefix = "ftptap"

// Subject returns the subject of ev published by tap:
// "ftptap.<tap>." + ev.Subject().
func Subject(tap string, ev *event.Event) string {
	var a [96]byte
	return string(appendSubject(a[:0], tap, ev))
}

func appendSubject(b []byte, tap string, ev *event.Event) []byte {
	b = append(b, Prefix...)
	b = append(b, '.')
	b = append(b, tap...)
	b = append(b, '.')
	return ev.AppendSubject(b)
}

// TapSubjects returns the wildcard subject that covers every event of tap.
func TapSubjects(tap string) string { return Prefix + "." + tap + ".>" }

// MsgID returns the Nats-Msg-Id of the event seq of a tap's run boot.
func MsgID(tap, boot string, seq uint64) string {
	var a [64]byte
	return string(appendMsgID(a[:0], tap, boot, seq))
}

func appendMsgID(b []byte, tap, boot string, seq uint64) []byte {
	b = append(b, tap...)
	b = append(b, '.')
	b = append(b, boot...)
	b = append(b, '.')
	return strconv.AppendUint(b, seq, 10)
}

// newRecord makes the record of an event published by tap: its subject
// and Nats-Msg-Id share one string, and its JSON is copied once.
func newRecord(tap, boot string, ev *event.Event, js []byte) record {
	var a [160]byte
	b := appendSubject(a[:0], tap, ev)
	n := len(b)
	s := string(appendMsgID(b, tap, boot, ev.Seq))
	return record{subject: s[:n], id: s[n:], data: bytes.Clone(js)}
}

// NewBootID returns a random id for one start of the process (16 hex
// digits). Event seqs restart at 1 on each start; the boot id keeps their
// Nats-Msg-Ids apart.
func NewBootID() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		// crypto/rand does not fail on Linux; keep going with a fixed id.
		return "0000000000000000"
	}
	return hex.EncodeToString(b[:])
}

// ValidToken reports whether s is one NATS subject token as ftptap uses
// them: letters, digits, '-' and '_' (event.ValidToken).
func ValidToken(s string) bool { return event.ValidToken(s) }

// checkTap returns an error naming tap when it is not a valid token.
func checkTap(tap string) error {
	if !ValidToken(tap) {
		return fmt.Errorf("natsbus: tap id %q: must be one subject token (letters, digits, '-', '_')", tap)
	}
	return nil
}

// StreamName returns the default JetStream stream name of a tap.
func StreamName(tap string) string { return "FTPTAP_" + tap }
