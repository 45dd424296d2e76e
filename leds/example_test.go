package leds_test

import (
	"fmt"
	"net/netip"
	"time"

	"periph.io/x/conn/v3/gpio/gpiotest"

	"github.com/ftptap/ftptap/event"
	"github.com/ftptap/ftptap/leds"
)

// A passive-mode download, as the tracker reports it, on an LED wired to
// GPIO27. On a Pi the pin comes from gpioreg.ByName("GPIO27") after
// host.Init.
func ExamplePanel() {
	pin := &gpiotest.Pin{N: "GPIO27"}
	p, err := leds.New(leds.Options{
		Outputs:    []leds.Output{{Role: leds.RolePassive, Pin: pin}},
		PacketTime: true, // a replay: time is packet time
		OnChange: func(c leds.Change) {
			fmt.Println(c.Time.Format("15:04:05.000"), c.Role, c.State)
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	t := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	ep := netip.MustParseAddrPort("10.77.0.1:40004")
	for _, ev := range []event.Event{
		{Type: event.TypeDataExpect, Time: t, Session: 1, Mode: event.ModePassive, Endpoint: ep},
		{Type: event.TypeDataOpen, Time: t.Add(time.Millisecond), Session: 1, Mode: event.ModePassive, Endpoint: ep},
		{Type: event.TypeDataClose, Time: t.Add(300 * time.Millisecond), Session: 1, Mode: event.ModePassive, Endpoint: ep},
	} {
		p.Event(&ev, nil)
		fmt.Println("GPIO27", pin.Read())
	}
	p.Close()
	// Output:
	// 10:00:00.000 passive on
	// GPIO27 High
	// 10:00:00.001 passive blink-fast
	// GPIO27 High
	// 10:00:00.300 passive off
	// GPIO27 Low
}
