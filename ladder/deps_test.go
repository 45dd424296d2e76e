package ladder

import (
	"testing"

	"github.com/ftptap/ftptap/internal/deptest"
)

// TestDeps keeps the package pure: events in, SVG out, no network, no
// processes, no tracker (os comes with fmt).
func TestDeps(t *testing.T) {
	deptest.Check(t, deptest.Rules{
		BadDeps:  []string{"net", "os/exec", "net/http", "github.com/ftptap/ftptap/tap", "github.com/ftptap/ftptap/pipeline", "github.com/ftptap/ftptap/ftpstate"},
		NeedDeps: []string{"github.com/ftptap/ftptap/event"},
	})
}
