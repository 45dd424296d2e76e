package leds

import "github.com/ftptap/ftptap/event"

// tftpSession keeps TFTP transfers apart from FTP sessions of the same
// number: the two trackers number their own.
const tftpSession = 1 << 63

// tftp follows a TFTP transfer on the passive LED: it blinks fast from the
// request until the transfer's end. TFTP's data moves to and from a port
// the server picks for the transfer (its new port, announced by answering
// from it), which is what passive mode is to FTP: the server chooses, the
// client follows. A transfer that fails raises the alert LED through its
// alert event, as FTP's failures do.
func (m *Model) tftp(ev *event.Event) {
	k := chanKey{event.ModePassive, ev.Server}
	id := ev.Session | tftpSession
	if ev.Type == event.TypeTFTPRequest {
		m.add(id, k, true)
		return
	}
	m.del(id, k)
}
