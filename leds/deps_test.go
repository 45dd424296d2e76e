package leds

import (
	"testing"

	"github.com/ftptap/ftptap/internal/deptest"
)

// TestDeps keeps the package on periph.io's interfaces: opening real pins
// (periph.io/x/host) is firmware's job, and a sink imports no packet source.
func TestDeps(t *testing.T) {
	deptest.Check(t, deptest.Rules{
		BadDeps:  []string{"periph.io/x/host/", "github.com/ftptap/ftptap/tap", "github.com/ftptap/ftptap/pipeline", "os/exec", "net/http"},
		NeedDeps: []string{"periph.io/x/conn/v3/gpio"},
	})
}
