//go:build linux

package lab

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ftptap/ftptap/internal/truth"
)

// TFTPScenario is a set of TFTP transfers by real clients against the
// lab's servers. Run returns what each transfer should come to (by
// construction) and the client runs.
type TFTPScenario struct {
	Name  string
	Setup func(l *Lab) error // before the recording starts; nil: none
	Run   func(l *Lab, ctx context.Context) ([]TFTPExpect, []*Run, error)
	// Big scenarios are run live, not recorded into testdata.
	Big bool
}

// TFTPExpect is what a transfer comes to, by construction: the truth
// without the client's port, which the capture gives.
type TFTPExpect struct {
	Server       netip.AddrPort
	Op, File     string
	Mode         string
	Bytes        int64
	Complete     bool
	ErrorCode    *int
	Outcome      string
	ReplyBlocked bool
}

func code(c int) *int { return &c }

func done(server netip.AddrPort, op, file string, size int64) TFTPExpect {
	return TFTPExpect{Server: server, Op: op, File: file, Mode: "octet", Bytes: size, Complete: true, Outcome: "done"}
}

func failed(server netip.AddrPort, file string, c int) TFTPExpect {
	return TFTPExpect{Server: server, Op: "read", File: file, Mode: "octet", ErrorCode: code(c), Outcome: "error"}
}

func timedOut(server netip.AddrPort, file string, blocked bool) TFTPExpect {
	return TFTPExpect{Server: server, Op: "read", File: file, Mode: "octet", Outcome: "timeout", ReplyBlocked: blocked}
}

// wrapFile takes 65,626 blocks of 512 bytes: block numbers wrap past 65535.
var wrapFile = File{"wrap.bin", 65625*512 + 100}

// NoTFTP4 and NoTFTP6 are addresses of the server namespace where nothing
// listens (the scenarios that need them add them).
var (
	NoTFTP4 = netip.MustParseAddr("10.77.0.4")
	NoTFTP6 = netip.MustParseAddr("fd77::4")
)

// hpa runs tftp-hpa against host with commands on its standard input:
// one-second retransmissions and a 4 s total timeout, so failures end
// quickly.
func (l *Lab) hpa(ctx context.Context, host netip.Addr, commands string) *Run {
	args := []string{host.String()}
	if host.Is6() {
		args = []string{"-6", host.String()}
	}
	return l.TFTPClient(ctx, "tftp", append([]string{"-v"}, args...), "rexmt 1\ntimeout 4\n"+commands+"\nquit\n")
}

// checkFile compares a file the client received (or the server stored)
// with the lab's file (netascii's line ends are converted back by then).
func checkFile(path string, f File) error {
	got, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	want := f.Bytes()
	if !bytes.Equal(got, want) {
		return fmt.Errorf("%s: %d bytes, not the %d of %s", path, len(got), len(want), f.Name)
	}
	return nil
}

// checkStored is checkFile for a file a server stores: the server acks
// the last block before it has written and closed the file (atftpd does,
// and the client exits on that ack), so the file is checked again for up
// to 5 s before its content counts as wrong.
func checkStored(path string, f File) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := checkFile(path, f)
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// tftpFile returns the lab's TFTP file by name.
func tftpFile(name string) File {
	for _, f := range TFTPFiles {
		if f.Name == name {
			return f
		}
	}
	panic("lab: no TFTP file " + name)
}

// TFTPScenarios are the TFTP scenarios, recorded into
// tftpstate/testdata/lab and run live by TestTFTPLive.
var TFTPScenarios = []TFTPScenario{
	{Name: "hpa-read", Run: func(l *Lab, ctx context.Context) ([]TFTPExpect, []*Run, error) {
		// tftp-hpa asks with no options: 512-byte blocks.
		r := l.hpa(ctx, TftpdHPA.IP4, "binary\nget f1000.bin hpa-f1000.bin")
		err := checkFile(filepath.Join(l.ClientDir(), "hpa-f1000.bin"), tftpFile("f1000.bin"))
		return []TFTPExpect{done(TftpdHPA.Addr(false), "read", "f1000.bin", 1000)}, []*Run{r}, err
	}},
	{Name: "hpa-netascii", Run: func(l *Lab, ctx context.Context) ([]TFTPExpect, []*Run, error) {
		// netascii: the server sends the text's line ends as CR LF, so
		// the wire carries one byte more per line.
		r := l.hpa(ctx, TftpdHPA.IP4, "ascii\nget readme.txt hpa-readme.txt")
		e := done(TftpdHPA.Addr(false), "read", "readme.txt", int64(len(tftpFile("readme.txt").Bytes())+bytes.Count(tftpFile("readme.txt").Bytes(), []byte("\n"))))
		e.Mode = "netascii"
		err := checkFile(filepath.Join(l.ClientDir(), "hpa-readme.txt"), tftpFile("readme.txt"))
		return []TFTPExpect{e}, []*Run{r}, err
	}},
	{Name: "curl-exact512", Run: func(l *Lab, ctx context.Context) ([]TFTPExpect, []*Run, error) {
		// 1024 bytes: two full blocks and an empty third. curl asks for
		// tsize and blksize 512 (options: the server answers OACK).
		r := l.TFTPClient(ctx, "curl", []string{"-sS", "--max-time", "20", "-o", "curl-exact.bin", "tftp://" + TftpdHPA.IP4.String() + "/exact1024.bin"}, "")
		err := checkFile(filepath.Join(l.ClientDir(), "curl-exact.bin"), tftpFile("exact1024.bin"))
		return []TFTPExpect{done(TftpdHPA.Addr(false), "read", "exact1024.bin", 1024)}, []*Run{r}, firstErr(r.Err, err)
	}},
	{Name: "atftp-blksize", Run: func(l *Lab, ctx context.Context) ([]TFTPExpect, []*Run, error) {
		// atftp asks atftpd for blksize 1428 and tsize.
		r := l.TFTPClient(ctx, "atftp", []string{"--option", "blksize 1428", "--option", "tsize 0", "-g", "-r", "blk200000.bin", "-l", "atftp-blk.bin", Atftpd.IP4.String()}, "")
		err := checkFile(filepath.Join(l.ClientDir(), "atftp-blk.bin"), tftpFile("blk200000.bin"))
		return []TFTPExpect{done(Atftpd.Addr(false), "read", "blk200000.bin", 200000)}, []*Run{r}, firstErr(r.Err, err)
	}},
	{Name: "write", Run: func(l *Lab, ctx context.Context) ([]TFTPExpect, []*Run, error) {
		// Uploads: curl to tftpd-hpa (blksize 1024), atftp to atftpd.
		f := tftpFile("f1000.bin")
		if _, err := l.ClientFile(f); err != nil {
			return nil, nil, err
		}
		big := tftpFile("blk200000.bin")
		if _, err := l.ClientFile(big); err != nil {
			return nil, nil, err
		}
		r1 := l.TFTPClient(ctx, "curl", []string{"-sS", "--max-time", "20", "--tftp-blksize", "1024", "-T", big.Name, "tftp://" + TftpdHPA.IP4.String() + "/up-curl.bin"}, "")
		r2 := l.TFTPClient(ctx, "atftp", []string{"-p", "-l", f.Name, "-r", "up-atftp.bin", Atftpd.IP4.String()}, "")
		err := firstErr(r1.Err, r2.Err,
			checkStored(filepath.Join(l.TFTPRoot(), "up-curl.bin"), big),
			checkStored(filepath.Join(l.TFTPRoot(), "up-atftp.bin"), f))
		return []TFTPExpect{done(TftpdHPA.Addr(false), "write", "up-curl.bin", 200000), done(Atftpd.Addr(false), "write", "up-atftp.bin", 1000)},
			[]*Run{r1, r2}, err
	}},
	{Name: "ipv6", Run: func(l *Lab, ctx context.Context) ([]TFTPExpect, []*Run, error) {
		r1 := l.hpa(ctx, TftpdHPA.IP6, "binary\nget exact1024.bin hpa6-exact.bin")
		r2 := l.TFTPClient(ctx, "curl", []string{"-sS", "-g", "--max-time", "20", "--tftp-blksize", "1400", "-o", "curl6.bin", "tftp://[" + TftpdHPA.IP6.String() + "]/blk200000.bin"}, "")
		err := firstErr(r2.Err,
			checkFile(filepath.Join(l.ClientDir(), "hpa6-exact.bin"), tftpFile("exact1024.bin")),
			checkFile(filepath.Join(l.ClientDir(), "curl6.bin"), tftpFile("blk200000.bin")))
		return []TFTPExpect{done(TftpdHPA.Addr(true), "read", "exact1024.bin", 1024), done(TftpdHPA.Addr(true), "read", "blk200000.bin", 200000)},
			[]*Run{r1, r2}, err
	}},
	{Name: "errors", Run: func(l *Lab, ctx context.Context) ([]TFTPExpect, []*Run, error) {
		// File not found from both servers. A file only root may read:
		// tftpd-hpa says so with error 0 and the system's text, atftpd as
		// not found; one nobody may read but that is not world-readable:
		// tftpd-hpa's access violation. An upload over a file nobody
		// may not write: tftpd-hpa's error 0 again.
		f := tftpFile("f1000.bin")
		if _, err := l.ClientFile(f); err != nil {
			return nil, nil, err
		}
		r1 := l.hpa(ctx, TftpdHPA.IP4, "binary\nget nosuch.bin hpa-nosuch.bin")
		r2 := l.TFTPClient(ctx, "atftp", []string{"-g", "-r", "nosuch.bin", "-l", "atftp-nosuch.bin", Atftpd.IP4.String()}, "")
		r3 := l.hpa(ctx, TftpdHPA.IP4, "binary\nget "+TFTPSecret+" hpa-secret.bin")
		r4 := l.TFTPClient(ctx, "atftp", []string{"-g", "-r", TFTPSecret, "-l", "atftp-secret.bin", Atftpd.IP4.String()}, "")
		r5 := l.hpa(ctx, TftpdHPA.IP4, "binary\nput "+f.Name+" "+f.Name)
		r6 := l.hpa(ctx, TftpdHPA.IP4, "binary\nget "+TFTPPrivate+" hpa-private.bin")
		over := failed(TftpdHPA.Addr(false), f.Name, 0)
		over.Op = "write"
		return []TFTPExpect{failed(TftpdHPA.Addr(false), "nosuch.bin", 1), failed(Atftpd.Addr(false), "nosuch.bin", 1),
				failed(TftpdHPA.Addr(false), TFTPSecret, 0), failed(Atftpd.Addr(false), TFTPSecret, 1), over,
				failed(TftpdHPA.Addr(false), TFTPPrivate, 2)},
			[]*Run{r1, r2, r3, r4, r5, r6}, nil
	}},
	{Name: "reply-blocked",
		Setup: func(l *Lab) error { return l.BlockTFTPReplies(false) },
		Run: func(l *Lab, ctx context.Context) ([]TFTPExpect, []*Run, error) {
			// The client's firewall drops UDP from the server's new port:
			// tftp-hpa repeats its request until it gives up.
			defer l.UnblockTFTPReplies()
			r := l.hpa(ctx, TftpdHPA.IP4, "binary\nget f1000.bin hpa-blocked.bin")
			return []TFTPExpect{timedOut(TftpdHPA.Addr(false), "f1000.bin", true)}, []*Run{r}, nil
		}},
	{Name: "reply-rejected",
		Setup: func(l *Lab) error { return l.BlockTFTPReplies(true) },
		Run: func(l *Lab, ctx context.Context) ([]TFTPExpect, []*Run, error) {
			// The client's firewall refuses UDP from the server's new
			// port with ICMP port unreachable; atftp repeats its request
			// (with tsize: the server's answer is an OACK) until it gives
			// up.
			defer l.UnblockTFTPReplies()
			r := l.TFTPClient(ctx, "atftp", []string{"--option", "tsize 0", "--tftp-timeout", "1", "-g", "-r", "f1000.bin", "-l", "atftp-rejected.bin", Atftpd.IP4.String()}, "")
			return []TFTPExpect{timedOut(Atftpd.Addr(false), "f1000.bin", true)}, []*Run{r}, nil
		}},
	{Name: "stall",
		Setup: func(l *Lab) error { return l.StallTFTPReplies(20000) },
		Run: func(l *Lab, ctx context.Context) ([]TFTPExpect, []*Run, error) {
			// The client's firewall lets the first 20 kB of the reply in,
			// then drops the rest: the transfer stalls mid-way. The client
			// acknowledged what it wrote to its file, so the file's size
			// is what the transfer moved.
			defer l.UnblockTFTPReplies()
			r := l.hpa(ctx, TftpdHPA.IP4, "binary\nget blk200000.bin hpa-stall.bin")
			st, err := os.Stat(filepath.Join(l.ClientDir(), "hpa-stall.bin"))
			if err != nil {
				return nil, []*Run{r}, err
			}
			if st.Size() == 0 || st.Size() >= 200000 {
				return nil, []*Run{r}, fmt.Errorf("the stalled transfer wrote %d bytes", st.Size())
			}
			e := timedOut(TftpdHPA.Addr(false), "blk200000.bin", false)
			e.Bytes = st.Size()
			return []TFTPExpect{e}, []*Run{r}, nil
		}},
	{Name: "wrap", Big: true,
		Setup: func(l *Lab) error {
			return os.WriteFile(filepath.Join(l.TFTPRoot(), wrapFile.Name), wrapFile.Bytes(), 0o644)
		},
		Run: func(l *Lab, ctx context.Context) ([]TFTPExpect, []*Run, error) {
			// Past block 65535 at blksize 512: the block numbers wrap to 0.
			r := l.hpa(ctx, TftpdHPA.IP4, "binary\nget "+wrapFile.Name+" hpa-wrap.bin")
			err := checkFile(filepath.Join(l.ClientDir(), "hpa-wrap.bin"), wrapFile)
			return []TFTPExpect{done(TftpdHPA.Addr(false), "read", wrapFile.Name, int64(wrapFile.Size))}, []*Run{r}, err
		}},
	{Name: "atftp-windowsize", Run: func(l *Lab, ctx context.Context) ([]TFTPExpect, []*Run, error) {
		// RFC 7440: atftp asks atftpd for four blocks per ACK.
		r := l.TFTPClient(ctx, "atftp", []string{"--option", "windowsize 4", "--option", "blksize 1024", "-g", "-r", "blk200000.bin", "-l", "atftp-win.bin", Atftpd.IP4.String()}, "")
		err := checkFile(filepath.Join(l.ClientDir(), "atftp-win.bin"), tftpFile("blk200000.bin"))
		return []TFTPExpect{done(Atftpd.Addr(false), "read", "blk200000.bin", 200000)}, []*Run{r}, firstErr(r.Err, err)
	}},
	{Name: "nothing-listens",
		Setup: func(l *Lab) error { return l.extraServerAddrs() },
		Run: func(l *Lab, ctx context.Context) ([]TFTPExpect, []*Run, error) {
			// No server on 10.77.0.4: the kernel answers port unreachable.
			r := l.hpa(ctx, NoTFTP4, "binary\nget f1000.bin hpa-none.bin")
			return []TFTPExpect{timedOut(netip.AddrPortFrom(NoTFTP4, 69), "f1000.bin", false)}, []*Run{r}, nil
		}},
	{Name: "request-dropped",
		Setup: func(l *Lab) error {
			if err := l.extraServerAddrs(); err != nil {
				return err
			}
			// A firewall in front of 10.77.0.4 drops TFTP requests
			// silently: no ICMP comes back.
			cmd := exec.Command("ip", "netns", "exec", l.ServerNS, "nft", "-f", "-")
			cmd.Stdin = strings.NewReader("table inet ftplabtftp {\n\tchain input {\n\t\ttype filter hook input priority 0; policy accept;\n\t\tip daddr " +
				NoTFTP4.String() + " udp dport 69 drop\n\t}\n}\n")
			if out, err := cmd.CombinedOutput(); err != nil {
				return fmt.Errorf("lab: nft: %w: %s", err, bytes.TrimSpace(out))
			}
			return nil
		},
		Run: func(l *Lab, ctx context.Context) ([]TFTPExpect, []*Run, error) {
			defer l.InNS(l.ServerNS, "nft", "delete", "table", "inet", "ftplabtftp")
			r := l.hpa(ctx, NoTFTP4, "binary\nget f1000.bin hpa-dropped.bin")
			return []TFTPExpect{timedOut(netip.AddrPortFrom(NoTFTP4, 69), "f1000.bin", false)}, []*Run{r}, nil
		}},
	{Name: "concurrent", Run: func(l *Lab, ctx context.Context) ([]TFTPExpect, []*Run, error) {
		runs := make([]*Run, 3)
		var wg sync.WaitGroup
		for i, fn := range []func() *Run{
			func() *Run {
				return l.TFTPClient(ctx, "curl", []string{"-sS", "--max-time", "20", "-o", "c1.bin", "tftp://" + TftpdHPA.IP4.String() + "/blk200000.bin"}, "")
			},
			func() *Run {
				return l.TFTPClient(ctx, "atftp", []string{"--option", "blksize 1024", "-g", "-r", "blk200000.bin", "-l", "c2.bin", Atftpd.IP4.String()}, "")
			},
			func() *Run { return l.hpa(ctx, TftpdHPA.IP4, "binary\nget f1000.bin c3.bin") },
		} {
			wg.Add(1)
			go func() { defer wg.Done(); runs[i] = fn() }()
		}
		wg.Wait()
		err := firstErr(runs[0].Err, runs[1].Err,
			checkFile(filepath.Join(l.ClientDir(), "c1.bin"), tftpFile("blk200000.bin")),
			checkFile(filepath.Join(l.ClientDir(), "c2.bin"), tftpFile("blk200000.bin")),
			checkFile(filepath.Join(l.ClientDir(), "c3.bin"), tftpFile("f1000.bin")))
		return []TFTPExpect{done(TftpdHPA.Addr(false), "read", "blk200000.bin", 200000), done(Atftpd.Addr(false), "read", "blk200000.bin", 200000),
			done(TftpdHPA.Addr(false), "read", "f1000.bin", 1000)}, runs, err
	}},
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// extraServerAddrs adds NoTFTP4 and NoTFTP6 to the server namespace, where
// nothing listens. Adding them again is no error.
func (l *Lab) extraServerAddrs() error {
	for _, a := range []string{NoTFTP4.String() + "/24", NoTFTP6.String() + "/64"} {
		args := []string{"ip", "-n", l.ServerNS, "addr", "replace", a, "dev", "eth0"}
		if NoTFTP6.String()+"/64" == a {
			args = append(args, "nodad")
		}
		if err := run(args...); err != nil {
			return err
		}
	}
	return nil
}

// PlayTFTP runs sc while recording both tap ports into dir and writes its
// truth (check_tftp.py's format) to dir/truth.json. started and stopping
// are as for Play.
func (l *Lab) PlayTFTP(ctx context.Context, sc TFTPScenario, dir string, started, stopping func() error) (*truth.TFTPTruth, []*Run, error) {
	if sc.Setup != nil {
		if err := sc.Setup(l); err != nil {
			return nil, nil, fmt.Errorf("lab: %s: %w", sc.Name, err)
		}
	}
	rec, err := l.Record(dir)
	if err != nil {
		return nil, nil, err
	}
	defer rec.Stop()
	if started != nil {
		if err := started(); err != nil {
			return nil, nil, err
		}
	}
	t0 := time.Now()
	want, runs, err := sc.Run(l, ctx)
	l.logf("lab %s: %s ran in %v", l.Name, sc.Name, time.Since(t0).Round(time.Millisecond))
	if err != nil {
		for _, r := range runs {
			l.logf("%s %v: %s", r.Tool, r.Err, lastLines(append(r.Output, r.Log...), 20))
		}
		return nil, runs, fmt.Errorf("lab: %s: %w", sc.Name, err)
	}
	if stopping != nil {
		if err := stopping(); err != nil {
			return nil, runs, err
		}
	}
	rec.Stop()
	reqs, err := TFTPRequests(rec.Files()...)
	if err != nil {
		return nil, runs, err
	}
	tr := &truth.TFTPTruth{Scenario: sc.Name}
	used := map[int]bool{}
	for _, w := range want {
		found := false
		for i, r := range reqs {
			if used[i] || r.Server != w.Server || r.Op != w.Op || r.File != w.File {
				continue
			}
			used[i], found = true, true
			tr.Transfers = append(tr.Transfers, truth.TFTPTransfer{Client: r.Client.String(), Server: r.Server.String(), Op: w.Op, File: w.File,
				Mode: w.Mode, Bytes: w.Bytes, Complete: w.Complete, ErrorCode: w.ErrorCode, Outcome: w.Outcome, ReplyBlocked: w.ReplyBlocked})
			break
		}
		if !found {
			return nil, runs, fmt.Errorf("lab: %s: no %s request for %s to %v in the capture", sc.Name, w.Op, w.File, w.Server)
		}
	}
	b, err := jsonIndent(tr)
	if err != nil {
		return nil, runs, err
	}
	if err := os.WriteFile(filepath.Join(dir, "truth.json"), b, 0o644); err != nil {
		return nil, runs, fmt.Errorf("lab: %w", err)
	}
	return tr, runs, nil
}
