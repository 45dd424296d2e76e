package capgen

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"strings"
	"time"
)

var (
	ftpServer4  = netip.MustParseAddr("192.0.2.21")
	ftpServer6  = netip.MustParseAddr("2001:db8::21")
	httpServer4 = netip.MustParseAddr("192.0.2.80")
)

// client returns the n-th client address (10.0.0.0/8, then fd00::/64).
func client4(n int) netip.Addr {
	n++
	return netip.AddrFrom4([4]byte{10, byte(n >> 16), byte(n >> 8), byte(n)})
}

func client6(n int) netip.Addr {
	n++
	return netip.AddrFrom16([16]byte{0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
}

// spoofed returns the n-th source of the SYN flood (100.64.0.0/10).
func spoofed(n int) netip.Addr {
	return netip.AddrFrom4([4]byte{100, 64 + byte(n>>16)&0x3f, byte(n >> 8), byte(n)})
}

// Sessions of the mixed capture, by kind: each kind is one FTP dialogue.
var sessionKinds = []func(b *builder, n int) *conn{
	pasvRetr, epsvRetr, portStor, eprtIPv6, listing, badLogin, pasvRefused, pasvTimeout, authTLS, resetEnd, midstream, multiRetr,
}

// Counts of the mixed capture at scale 1: 716,406 frames, 130 MB.
const (
	MixedFTPSessions = 6960
	MixedHTTPConns   = 17400
	MixedFloodSYNs   = 300000
)

type builder struct {
	rnd   *rand.Rand
	next  int // client numbers handed out
	flood int // flood sources handed out
}

func (b *builder) newClient() int { b.next++; return b.next }

// loggedIn opens command channel k (its handshake) and logs in on it.
func (b *builder) loggedIn(k *conn) *conn {
	k.handshake()
	b.login(k)
	return k
}

func (b *builder) login(k *conn) {
	k.say(false, "220 synthetic FTP server ready")
	k.say(true, "USER anonymous")
	k.say(false, "331 Please specify the password.")
	k.say(true, "PASS guest@example.com")
	k.say(false, "230 Login successful.")
}

func pasvPort(n int) uint16 { return uint16(40000 + n%20000) }

// passive sets up a data connection to the server's port p and returns it.
func (b *builder) passive(k *conn, p uint16, n int) *conn {
	return newConn(netip.AddrPortFrom(k.c.Addr(), uint16(50000+n%10000)), netip.AddrPortFrom(k.s.Addr(), p), uint32(n)*7919)
}

func (b *builder) size() int { return 1024 + b.rnd.IntN(12<<10) }

// retr downloads a file over a passive data connection announced by
// PASV (v4) or EPSV.
func (b *builder) retr(k *conn, n int, epsv bool, cmd, file string) {
	p := pasvPort(n)
	announcePassive(k, p, epsv)
	d := b.passive(k, p, n)
	d.handshake()
	k.take(d)
	k.say(true, cmd+" "+file)
	k.say(false, "150 Opening BINARY mode data connection.")
	size := b.size()
	d.data(false, size)
	endData(k, d)
}

// announcePassive has the client ask for a passive data connection, by
// EPSV or (IPv4 only) PASV, and the server announce its port p.
func announcePassive(k *conn, p uint16, epsv bool) {
	if epsv {
		k.say(true, "EPSV")
		k.say(false, fmt.Sprintf("229 Entering Extended Passive Mode (|||%d|)", p))
		return
	}
	a := k.s.Addr().As4()
	k.say(true, "PASV")
	k.say(false, fmt.Sprintf("227 Entering Passive Mode (%d,%d,%d,%d,%d,%d).", a[0], a[1], a[2], a[3], p>>8, p&0xff))
}

// endData closes data connection d, the side that accepted it first, puts
// its segments on command channel k and has the server report the
// transfer complete there.
func endData(k, d *conn) {
	d.add(false, fin|ack, nil)
	d.add(true, fin|ack, nil)
	d.add(false, ack, nil)
	k.take(d)
	k.say(false, "226 Transfer complete.")
}

func (b *builder) quit(k *conn) {
	k.say(true, "QUIT")
	k.say(false, "221 Goodbye.")
	k.close()
}

func (b *builder) ftp4(n int) *conn {
	k := newConn(netip.AddrPortFrom(client4(n), uint16(1024+n%60000)), netip.AddrPortFrom(ftpServer4, 21), uint32(n)*104729)
	return k
}

func pasvRetr(b *builder, n int) *conn {
	k := b.loggedIn(b.ftp4(n))
	k.say(true, "TYPE I")
	k.say(false, "200 Switching to Binary mode.")
	b.retr(k, n, false, "RETR", fmt.Sprintf("pub/file%d.bin", n))
	b.quit(k)
	return k
}

func epsvRetr(b *builder, n int) *conn {
	k := b.loggedIn(b.ftp4(n))
	b.retr(k, n, true, "RETR", fmt.Sprintf("pub/file%d.bin", n))
	b.quit(k)
	return k
}

func listing(b *builder, n int) *conn {
	k := b.loggedIn(b.ftp4(n))
	k.say(true, "CWD pub")
	k.say(false, "250 Directory successfully changed.")
	b.retr(k, n, true, "LIST", "-la")
	b.quit(k)
	return k
}

func multiRetr(b *builder, n int) *conn {
	k := b.loggedIn(b.ftp4(n))
	for i := range 4 {
		b.retr(k, n*4+i, i%2 == 1, "RETR", fmt.Sprintf("pub/part%d.bin", i))
	}
	b.quit(k)
	return k
}

// active uploads over a data connection the server opens to the client.
func (b *builder) active(k *conn, n int, cmd, arg string) {
	p := uint16(30000 + n%20000)
	switch cmd {
	case "PORT":
		a := k.c.Addr().As4()
		k.say(true, fmt.Sprintf("PORT %d,%d,%d,%d,%d,%d", a[0], a[1], a[2], a[3], p>>8, p&0xff))
	default:
		k.say(true, fmt.Sprintf("EPRT |2|%s|%d|", k.c.Addr(), p))
	}
	k.say(false, "200 PORT command successful.")
	k.say(true, arg)
	d := newConn(netip.AddrPortFrom(k.s.Addr(), 20), netip.AddrPortFrom(k.c.Addr(), p), uint32(n)*31337)
	d.handshake()
	k.take(d)
	k.say(false, "150 Ok to send data.")
	// d's "client" is the server's port 20, which connects.
	d.data(!strings.HasPrefix(arg, "STOR"), b.size())
	endData(k, d)
}

func portStor(b *builder, n int) *conn {
	k := b.loggedIn(b.ftp4(n))
	b.active(k, n, "PORT", fmt.Sprintf("STOR upload/up%d.bin", n))
	b.quit(k)
	return k
}

func eprtIPv6(b *builder, n int) *conn {
	k := b.loggedIn(newConn(netip.AddrPortFrom(client6(n), uint16(1024+n%60000)), netip.AddrPortFrom(ftpServer6, 21), uint32(n)*104729))
	b.active(k, n, "EPRT", fmt.Sprintf("RETR pub/v6-%d.bin", n))
	b.quit(k)
	return k
}

func badLogin(b *builder, n int) *conn {
	k := b.ftp4(n)
	k.handshake()
	k.say(false, "220 synthetic FTP server ready")
	for range 3 {
		k.say(true, "USER admin")
		k.say(false, "331 Please specify the password.")
		k.say(true, "PASS wrong")
		k.say(false, "530 Login incorrect.")
	}
	b.quit(k)
	return k
}

func pasvRefused(b *builder, n int) *conn {
	k := b.loggedIn(b.ftp4(n))
	p := pasvPort(n)
	announcePassive(k, p, false)
	d := b.passive(k, p, n)
	d.segs = append(d.segs, seg{src: d.c, dst: d.s, seq: d.cseq, flags: syn})
	d.segs = append(d.segs, seg{src: d.s, dst: d.c, ack: d.cseq + 1, flags: rst | ack})
	k.take(d)
	k.say(true, "RETR pub/missing.bin")
	k.say(false, "425 Failed to establish connection.")
	b.quit(k)
	return k
}

func pasvTimeout(b *builder, n int) *conn {
	k := b.loggedIn(b.ftp4(n))
	announcePassive(k, pasvPort(n), true)
	k.say(true, "RETR pub/never.bin")
	k.say(false, "425 Failed to establish connection.")
	b.quit(k)
	return k
}

func authTLS(b *builder, n int) *conn {
	k := b.ftp4(n)
	k.handshake()
	k.say(false, "220 synthetic FTP server ready")
	k.say(true, "AUTH TLS")
	k.say(false, "234 Proceed with negotiation.")
	for i := range 6 {
		k.add(i%2 == 0, psh|ack, payload[:200+i*100])
	}
	k.close()
	return k
}

func resetEnd(b *builder, n int) *conn {
	k := b.loggedIn(b.ftp4(n))
	k.say(true, "PWD")
	k.say(false, `257 "/" is the current directory`)
	k.add(true, rst|ack, nil)
	return k
}

func midstream(b *builder, n int) *conn {
	k := b.ftp4(n)
	k.say(true, "CWD pub")
	k.say(false, "250 Directory successfully changed.")
	k.say(true, "PWD")
	k.say(false, `257 "/pub" is the current directory`)
	b.retr(k, n, true, "RETR", "pub/late.bin")
	b.quit(k)
	return k
}

func (b *builder) http(n int) *conn {
	k := newConn(netip.AddrPortFrom(client4(n), uint16(1024+n%60000)), netip.AddrPortFrom(httpServer4, 80), uint32(n)*65537)
	k.handshake()
	k.add(true, psh|ack, []byte(fmt.Sprintf("GET /page/%d HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: bench\r\n\r\n", n)))
	k.add(false, ack, nil)
	k.data(false, 512+b.rnd.IntN(4<<10))
	k.close()
	return k
}

// flood is count SYNs on the web server's port from spoofed sources,
// never answered.
func flood(first, count int) *flow {
	f := &flow{segs: make([]seg, 0, count)}
	for i := first; i < first+count; i++ {
		src := netip.AddrPortFrom(spoofed(i), uint16(1024+i%60000))
		dst := netip.AddrPortFrom(httpServer4, 80)
		f.segs = append(f.segs, seg{src: src, dst: dst, seq: uint32(i) * 2654435761, flags: syn})
	}
	return f
}

// Mixed writes the mixed capture scale times over (each copy with new
// addresses, after the one before): FTP sessions of every kind, HTTP
// connections and a SYN flood on the web server, interleaved.
func Mixed(out io.Writer, scale int) (*Writer, error) {
	w, err := NewWriter(out, 20*time.Microsecond)
	if err != nil {
		return nil, err
	}
	b := &builder{rnd: rand.New(rand.NewPCG(1, 2))}
	sc := &scheduler{w: w, rnd: rand.New(rand.NewPCG(3, 4)), width: 64}
	const floodChunk = 500
	for range scale {
		// One block: the three kinds of traffic spread evenly.
		ftp, web, fl := 0, 0, 0
		for ftp < MixedFTPSessions || web < MixedHTTPConns || fl < MixedFloodSYNs {
			if ftp*MixedHTTPConns <= web*MixedFTPSessions && ftp < MixedFTPSessions {
				sc.add(sessionKinds[ftp%len(sessionKinds)](b, b.newClient()).flow())
				ftp++
			} else if web < MixedHTTPConns {
				sc.add(b.http(b.newClient()).flow())
				web++
			}
			if fl*MixedHTTPConns <= web*MixedFloodSYNs && fl < MixedFloodSYNs {
				n := min(floodChunk, MixedFloodSYNs-fl)
				sc.add(flood(b.flood, n))
				b.flood += n
				fl += n
			}
		}
	}
	sc.drain()
	return w, w.Flush()
}

// Control writes sessions that log in, then send commands answered on the
// command channel only (CWD, PWD, NOOP, SIZE, MDTM), then QUIT: each
// command gives a request and a response event.
func Control(out io.Writer, sessions, commands int) (*Writer, error) {
	w, err := NewWriter(out, 5*time.Microsecond)
	if err != nil {
		return nil, err
	}
	b := &builder{rnd: rand.New(rand.NewPCG(5, 6))}
	sc := &scheduler{w: w, rnd: rand.New(rand.NewPCG(7, 8)), width: 32}
	dialog := [][2]string{
		{"CWD pub", "250 Directory successfully changed."},
		{"PWD", `257 "/pub" is the current directory`},
		{"NOOP", "200 NOOP ok."},
		{"SIZE file.bin", "213 1048576"},
		{"MDTM file.bin", "213 20261125100000"},
		{"TYPE I", "200 Switching to Binary mode."},
	}
	for range sessions {
		k := b.loggedIn(b.ftp4(b.newClient()))
		for i := range commands {
			d := dialog[i%len(dialog)]
			k.say(true, d[0])
			k.say(false, d[1])
		}
		b.quit(k)
		sc.add(k.flow())
	}
	sc.drain()
	return w, w.Flush()
}

// Idle writes n sessions that log in and stay open; with data, each also
// opens a passive data connection that stays open.
func Idle(out io.Writer, n int, data bool) (*Writer, error) {
	w, err := NewWriter(out, 10*time.Microsecond)
	if err != nil {
		return nil, err
	}
	b := &builder{rnd: rand.New(rand.NewPCG(9, 10))}
	sc := &scheduler{w: w, rnd: rand.New(rand.NewPCG(11, 12)), width: 64}
	for range n {
		c := b.newClient()
		k := b.loggedIn(b.ftp4(c))
		if data {
			p := pasvPort(c)
			announcePassive(k, p, true)
			d := b.passive(k, p, c)
			d.handshake()
			k.take(d)
			k.say(true, "RETR pub/slow.bin")
			k.say(false, "150 Opening BINARY mode data connection.")
		}
		sc.add(k.flow())
	}
	sc.drain()
	return w, w.Flush()
}
