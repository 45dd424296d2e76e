package natsbus

import (
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
	return Prefix + "." + tap + "." + ev.Subject()
}

// TapSubjects returns the wildcard subject that covers every event of tap.
func TapSubjects(tap string) string { return Prefix + "." + tap + ".>" }

// MsgID returns the Nats-Msg-Id of the event seq of a tap's run boot.
func MsgID(tap, boot string, seq uint64) string {
	b := make([]byte, 0, len(tap)+len(boot)+22)
	b = append(b, tap...)
	b = append(b, '.')
	b = append(b, boot...)
	b = append(b, '.')
	b = strconv.AppendUint(b, seq, 10)
	return string(b)
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
