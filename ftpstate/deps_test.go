package ftpstate_test

import (
	"testing"

	"github.com/ftptap/ftptap/internal/deptest"
)

// TestDeps keeps ftpstate pure: it imports no I/O, starts no goroutines, reads
// no clock, and depends on no source, sink or other tracker.
func TestDeps(t *testing.T) {
	deptest.Check(t, deptest.Rules{
		BadImports: []string{"os", "os/exec", "net", "net/http", "syscall", "log", "log/slog", "io/ioutil", "unsafe"},
		BadDeps: []string{"github.com/nats-io/", "periph.io/", "github.com/google/gopacket", "github.com/google/gopacket/",
			"github.com/ftptap/ftptap/tap", "github.com/ftptap/ftptap/tftpstate", "github.com/ftptap/ftptap/leds",
			"github.com/ftptap/ftptap/pipeline", "github.com/ftptap/ftptap/natsbus"},
		NeedDeps: []string{"github.com/ftptap/ftptap/event"},
		Pure:     true,
	})
}
