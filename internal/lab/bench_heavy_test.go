//go:build linux

package lab

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	heavy     = flag.Bool("live-heavy", false, "run the heavy live benchmarks (make bench-live sets it)")
	downloads = flag.Int("downloads", 50, "BenchmarkLiveDownloads: concurrent FTP downloads of big.bin")
	stormRate = flag.Int("storm-rate", 1000, "BenchmarkLiveStorm: new FTP sessions per second")
	stormTime = flag.Duration("storm-time", 30*time.Second, "BenchmarkLiveStorm: how long the storm lasts (try 3s for a quick look)")
	ringMiB   = flag.Int("ring-mib", 0, "BenchmarkLiveDownloads, BenchmarkLiveStorm: ftptap's capture.ring_mib (0: its default)")
	sessCap   = flag.Int("sessions", 0, "BenchmarkLiveDownloads, BenchmarkLiveStorm: ftptap's limits.sessions (0: its default), to watch evictions")
	stormKeep = flag.String("storm-keep", "", "BenchmarkLiveStorm: a directory to keep ftptap's events, its log and ftpstorm's output in")
	downRate  = flag.String("rate", "", "BenchmarkLiveDownloads: curl's --limit-rate for each download (2M: 2 MB/s), to find the rate carving keeps up with")
	cgroups   = flag.Bool("cgroup", false, "BenchmarkLiveDownloads: ftptap in a cpu control group of weight 1000 (its unit's CPUWeight), the lab's clients and servers in one of 100")
	realtime  = flag.Bool("rt", false, "BenchmarkLiveDownloads: run ftptap under SCHED_RR (chrt -r 10), not at nice -10")
	carveDown = flag.Bool("carve", false, "BenchmarkLiveDownloads: ftptap carves every download (--carve), which takes the data channels' bytes into user space")
)

// heavyArgs are ftptap's arguments in the heavy benchmarks beyond
// startBenchFtptap's: a config of its own when -ring-mib or -sessions is
// set.
func heavyArgs(b *testing.B, dir string) []string {
	var args []string
	var conf string
	if *ringMiB > 0 {
		conf += fmt.Sprintf("capture:\n  ring_mib: %d\n", *ringMiB)
	}
	if *sessCap > 0 {
		conf += fmt.Sprintf("limits:\n  sessions: %d\n", *sessCap)
	}
	if conf != "" {
		path := filepath.Join(dir, "caps.yaml")
		if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
			b.Fatal(err)
		}
		args = append(args, "--config", path)
	}
	return args
}

// cpuOf returns the user and system CPU time of a process that has
// exited.
func cpuOf(p *Proc) time.Duration {
	if p.Cmd.ProcessState == nil {
		return 0
	}
	ru, ok := p.Cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkLiveDownloads runs -downloads concurrent passive downloads of
// big.bin (16 MiB) through the bridge, at full speed, while iperf3 pushes
// TCP alongside, b.N rounds. It reports ftptap's CPU seconds per GB
// bridged (FTP and iperf3 bytes), its kernel drops and the command-channel
// events lost (requests and replies curl's transcripts show that ftptap
// did not report). The targets are 0 drops and 0 lost. With -carve,
// ftptap carves every download: the kernel filter then passes the data
// channels' bytes to user space, where they are reassembled, written and
// hashed; the benchmark also reports the files carved whole (SHA-256 of
// big.bin, no gap) and ftptap's CPU per GB carved, and fails on a file
// carved with gaps or none.
//
//	make bench-live    (go test -bench=LiveDownloads ./internal/lab -downloads=50 [-carve])
func BenchmarkLiveDownloads(b *testing.B) {
	if !*heavy {
		b.Skip("lab: heavy live benchmark: run with -live-heavy (make bench-live)")
	}
	if why := CanRun(); why != "" {
		b.Skip("lab: " + why)
	}
	needIperf(b)
	var groups *cpuGroups
	if *cgroups {
		groups = newCPUGroups(b)
	}
	l := New(b, Options{Realtime: *realtime})
	dir := b.TempDir()
	args := heavyArgs(b, dir)
	if *carveDown {
		args = append(args, "--carve", filepath.Join(dir, "carve"))
	}
	ft := startBenchFtptap(b, l, filepath.Join(dir, "events.jsonl"), args...)
	if groups != nil {
		groups.tapProcess(b, ft.Ftptap)
	}
	iperfOut := filepath.Join(dir, "iperf.json")
	// iperf3 on the FTP server's port 5201: unprivileged ports, like a
	// data channel's. Carving passes every segment between the hosts of an
	// open command channel on such ports to user space (docs/carve.md), so
	// the load there would be carving's worst case, not the load beside
	// it: with -carve it goes to the server's port 80, a service port,
	// which the kernel filter keeps out.
	iperfTo := netip.AddrPortFrom(Vsftpd.IP4, 5201)
	if *carveDown {
		iperfTo = netip.AddrPortFrom(Vsftpd.IP4, 80)
	}
	cli := startIperf(b, l, iperfTo, iperfOut, *loadTime)
	big, _ := knownFile("big.bin")
	var runs []*Run
	var ftpBytes int64
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		var mu sync.Mutex
		var wg sync.WaitGroup
		for range *downloads {
			wg.Add(1)
			go func() {
				defer wg.Done()
				args := []string{"-o", "/dev/null", Vsftpd.URL(false, "pub/"+big.Name)}
				if *downRate != "" {
					args = append([]string{"--limit-rate", *downRate}, args...)
				}
				r := l.Curl(context.Background(), args...)
				mu.Lock()
				defer mu.Unlock()
				if r.Err != nil {
					b.Errorf("download: %v", r.Err)
					return
				}
				runs = append(runs, r)
				ftpBytes += int64(big.Size)
			}()
		}
		wg.Wait()
	}
	ftpRate := float64(ftpBytes) / 1e6 / time.Since(start).Seconds()
	b.StopTimer()
	loadErr := cli.Wait(*loadTime + 30*time.Second)
	ft.stop(b, l)
	ev := ft.events(b)
	lost, want := commandEventsLost(runs, ev)
	stopped := logFields(ft.Log(), "stopped")
	sum, ierr := readIperf(iperfOut)
	if ierr != nil || loadErr != nil {
		b.Logf("iperf3: %v %v", loadErr, ierr)
	}
	gb := float64(ftpBytes+sum.SumReceived.Bytes) / 1e9
	cpu := cpuOf(ft.Proc)
	b.ReportMetric(float64(lost), "cmd-events-lost")
	b.ReportMetric(float64(want), "cmd-events-expected")
	b.ReportMetric(float64(stopped["kernel_drops"]), "kernel-drops")
	b.ReportMetric(gb, "GB-bridged")
	b.ReportMetric(cpu.Seconds()/gb, "cpu-s/GB")
	carving := ""
	if *carveDown {
		whole, carved := carvedWhole(ev, big)
		b.ReportMetric(float64(whole), "files-whole")
		b.ReportMetric(float64(carved)/1e9, "GB-carved")
		b.ReportMetric(cpu.Seconds()/(float64(carved)/1e9), "cpu-s/GB-carved")
		carving = fmt.Sprintf(", carving: %d of %d files whole, %.2f GB carved (%.2f CPU s/GB carved)", whole, len(runs), float64(carved)/1e9, cpu.Seconds()/(float64(carved)/1e9))
		if whole != len(runs) {
			b.Errorf("%d of %d downloads carved whole", whole, len(runs))
		}
	}
	b.ReportMetric(ftpRate, "FTP-MB/s")
	fmt.Fprintf(os.Stderr, "%d downloads x%d + iperf3: %.2f GB bridged (FTP %.2f GB at %.0f MB/s), ftptap %.2f CPU s (%.2f s/GB), kernel packets %d, drops %d, command-channel events lost %d of %d%s\n",
		*downloads, b.N, gb, float64(ftpBytes)/1e9, ftpRate, cpu.Seconds(), cpu.Seconds()/gb, stopped["kernel_packets"], stopped["kernel_drops"], lost, want, carving)
	if lost > 0 {
		b.Errorf("%d of %d command-channel events lost", lost, want)
	}
}

var (
	stormOnce sync.Once
	stormBin  string
	stormErr  error
)

// buildStorm builds ftpstorm next to the ftptap binary.
func buildStorm(b *testing.B) string {
	b.Helper()
	stormOnce.Do(func() {
		stormBin, stormErr = goBuild("github.com/ftptap/ftptap/internal/lab/ftpstorm", "ftpstorm")
	})
	if stormErr != nil {
		b.Fatal(stormErr)
	}
	b.Cleanup(func() { os.RemoveAll(filepath.Dir(stormBin)) })
	return stormBin
}

// BenchmarkLiveStorm opens -storm-rate new FTP sessions per second
// through the bridge for -storm-time (each logs in and quits), b.N times,
// and checks that ftptap reported every session's events: a session.start,
// a request for every command sent and a response for every reply read.
// It reports sessions per second reached, sessions and events lost, and
// kernel drops; the targets are 0 of each.
//
//	make bench-live    (go test -bench=LiveStorm ./internal/lab -storm-rate=1000 -storm-time=30s)
func BenchmarkLiveStorm(b *testing.B) {
	if !*heavy {
		b.Skip("lab: heavy live benchmark: run with -live-heavy (make bench-live)")
	}
	if why := CanRun(); why != "" {
		b.Skip("lab: " + why)
	}
	storm := buildStorm(b)
	l := New(b, Options{})
	// vsftpd accepts from a short queue; at 1,000 sessions a second it
	// overflows, and the server's kernel answers SYNs with SYN cookies.
	// A client whose handshake then found the queue full thinks it is
	// connected while the server forgot it, and its FIN, sent when it
	// gives up, is dropped without a RST for as long as cookies are in
	// use (two minutes after the last overflow): thousands of client
	// sockets stayed in FIN-WAIT-1 past the end of the run on kernel
	// 6.18. Without cookies, the server drops the SYNs it has no room
	// for, and each client tries again or counts as never connected.
	if err := l.InNS(l.ServerNS, "sysctl", "-qw", "net.ipv4.tcp_syncookies=0"); err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	ft := startBenchFtptap(b, l, filepath.Join(dir, "events.jsonl"), heavyArgs(b, dir)...)
	var rec *Recording
	if *stormKeep != "" {
		// What crossed the tap ports, to replay (ftptap replay) beside
		// what ftptap reported live.
		var err error
		if rec, err = l.Record(*stormKeep); err != nil {
			b.Fatal(err)
		}
	}
	var clients []stormSession
	unanswered := 0
	b.ResetTimer()
	for i := range b.N {
		out := filepath.Join(dir, fmt.Sprintf("storm-%d.txt", i))
		of, err := os.Create(out)
		if err != nil {
			b.Fatal(err)
		}
		errf, _ := os.Create(out + ".err")
		p, err := l.Start(l.ClientNS, of, errf, storm, "-server", netip.AddrPortFrom(Vsftpd.IP4, 21).String(),
			"-rate", strconv.Itoa(*stormRate), "-duration", stormTime.String())
		of.Close()
		errf.Close()
		if err != nil {
			b.Fatal(err)
		}
		if err := p.Wait(*stormTime + time.Minute); err != nil {
			msg, _ := os.ReadFile(out + ".err")
			b.Fatalf("ftpstorm: %v: %s", err, msg)
		}
		msg, _ := os.ReadFile(out + ".err")
		b.Log(strings.TrimSpace(string(msg)))
		var n, failed, never int
		fmt.Sscanf(strings.TrimSpace(string(msg)), "ftpstorm: %d sessions in %s (%s %d failed (%d never connected)", &n, new(string), new(string), &failed, &never)
		unanswered += never
		f, _ := os.Open(out)
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var port, sent, read int
			var began, ended int64
			if _, err := fmt.Sscan(sc.Text(), &port, &sent, &read, &began, &ended); err == nil {
				clients = append(clients, stormSession{client: netip.AddrPortFrom(ClientIP4, uint16(port)).String(),
					sent: sent, read: read, began: time.Unix(0, began), ended: time.Unix(0, ended)})
			}
		}
		f.Close()
	}
	b.StopTimer()
	ft.stop(b, l)
	if rec != nil {
		rec.Stop()
	}
	if *stormKeep != "" {
		keepStorm(b, dir, ft.Log())
	}
	var evs []stormEvent
	alerts := map[string]int{}
	reasons := map[string]int{}
	f, err := os.Open(ft.Events)
	if err != nil {
		b.Fatal(err)
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e struct {
			Type, Client, Session, Kind, Reason string
			TS                                  time.Time
		}
		if json.Unmarshal(sc.Bytes(), &e) != nil {
			continue
		}
		switch e.Type {
		case "alert":
			alerts[e.Kind]++
		case "session.end":
			reasons[e.Reason]++
		case "session.start", "request", "response":
			evs = append(evs, stormEvent{typ: e.Type, client: e.Client, session: e.Session, ts: e.TS})
		}
	}
	f.Close()
	lostSessions, lostEvents, wantEvents := stormLoss(clients, evs)
	stopped := logFields(ft.Log(), "stopped")
	// The rate the sessions were opened at (ftpstorm paces them over
	// -storm-time; the wait for the last ones to finish is not counted).
	rate := float64(len(clients)) / (stormTime.Seconds() * float64(b.N))
	b.ReportMetric(float64(len(clients)), "sessions")
	b.ReportMetric(float64(reasons["evicted"]), "evicted")
	b.ReportMetric(rate, "sessions/s")
	b.ReportMetric(float64(lostSessions), "sessions-lost")
	b.ReportMetric(float64(lostEvents), "events-lost")
	b.ReportMetric(float64(stopped["kernel_drops"]), "kernel-drops")
	b.ReportMetric(cpuOf(ft.Proc).Seconds(), "ftptap-cpu-s")
	fmt.Fprintf(os.Stderr, "storm: %d sessions at %.0f/s, ftptap %.2f CPU s: sessions lost %d, events lost %d of %d, kernel drops %d\n",
		len(clients), rate, cpuOf(ft.Proc).Seconds(), lostSessions, lostEvents, wantEvents, stopped["kernel_drops"])
	fmt.Fprintf(os.Stderr, "storm: %d more never connected (their SYNs unanswered); ftptap's session ends by reason: %v\n", unanswered, reasons)
	if len(alerts) > 0 {
		fmt.Fprintf(os.Stderr, "storm: ftptap's alerts by kind: %v\n", alerts)
	}
	if lostSessions > 0 || lostEvents > 0 {
		b.Errorf("%d sessions and %d of %d events lost", lostSessions, lostEvents, wantEvents)
	}
}

// keepStorm copies the storm's events, ftpstorm's output and ftptap's log
// from dir to -storm-keep, for a look at what went wrong.
func keepStorm(b *testing.B, dir, log string) {
	if err := os.MkdirAll(*stormKeep, 0o755); err != nil {
		b.Fatal(err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range ents {
		if e.IsDir() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err == nil {
			err = os.WriteFile(filepath.Join(*stormKeep, e.Name()), data, 0o644)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(*stormKeep, "ftptap.log"), []byte(log), 0o644); err != nil {
		b.Fatal(err)
	}
}

// stormSession is one session of ftpstorm's output.
type stormSession struct {
	client       string // ip:port
	sent, read   int
	began, ended time.Time // ended: just before the client closed its socket
}

// stormEvent is one of ftptap's events that a storm session must have.
type stormEvent struct {
	typ, client, session string
	ts                   time.Time
}

// stormLoss matches ftptap's events to the sessions ftpstorm made and
// counts what is missing: a session without a session.start, and fewer
// requests or responses than commands sent and replies read. A client
// port serves many sessions in a long storm, one after the other: the
// next SYN on a port comes after the last session on it closed its
// socket. So each of ftptap's sessions (with all its events) goes to the
// first client session on its port that closed after ftptap's
// session.start. (A session that never connected has no port: ftptap's
// session of it goes to the port's next session, which then has two
// session.starts, no harm to the count.)
func stormLoss(clients []stormSession, evs []stormEvent) (lostSessions, lostEvents, want int) {
	sessions := map[string][]*stormSession{}
	for i := range clients {
		c := &clients[i]
		sessions[c.client] = append(sessions[c.client], c)
	}
	for _, ss := range sessions {
		slices.SortFunc(ss, func(a, b *stormSession) int { return a.ended.Compare(b.ended) })
	}
	type got struct{ start, req, resp int }
	counts := map[*stormSession]*got{}
	owner := map[string]*got{} // by ftptap's session id
	for _, e := range evs {
		if e.typ == "session.start" {
			ss := sessions[e.client]
			i := sort.Search(len(ss), func(i int) bool { return !ss[i].ended.Before(e.ts) })
			if i == len(ss) || ss[i].ended.Sub(e.ts) > 5*time.Minute {
				continue
			}
			g := counts[ss[i]]
			if g == nil {
				g = &got{}
				counts[ss[i]] = g
			}
			g.start++
			owner[e.session] = g
			continue
		}
		if g := owner[e.session]; g != nil {
			switch e.typ {
			case "request":
				g.req++
			case "response":
				g.resp++
			}
		}
	}
	for i := range clients {
		c := &clients[i]
		g := counts[c]
		if g == nil {
			g = &got{}
			lostSessions++
		}
		want += 1 + c.sent + c.read
		lostEvents += max(0, 1-g.start) + max(0, c.sent-g.req) + max(0, c.read-g.resp)
	}
	return lostSessions, lostEvents, want
}
