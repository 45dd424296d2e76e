//go:build linux

package perf

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ftptap/ftptap/internal/capgen"
)

var (
	enabled   = flag.Bool("perf", false, "run the comparison benchmarks (make bench sets it; they take minutes)")
	scales    = flag.String("perf.scales", "1", "copies of the mixed capture to replay, comma-separated (make bench-scale: 1,10,100)")
	opens     = flag.String("perf.sessions", "1000,30000", "never-closing sessions of the idle captures, comma-separated")
	tsharkMax = flag.Int("perf.tshark-scale", 1, "largest scale tshark is run on (it is 40 times slower)")
	runs      = flag.Int("perf.runs", 3, "runs of each tool; the fastest counts")
	dropLarge = flag.Bool("perf.drop-large", false, "delete the mixed captures above scale 1 once replayed (100x is 13 GB)")
	dir       = flag.String("perf.dir", filepath.Join(os.TempDir(), "ftptap-bench"), "where the generated captures are kept between runs")
)

func need(b *testing.B) {
	b.Helper()
	if !*enabled {
		b.Skip("perf: comparison benchmarks run with -perf (make bench)")
	}
	if runtime.GOOS != "linux" {
		b.Skip("perf: needs Linux (peak RSS from wait4)")
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		b.Fatal(err)
	}
}

func ints(b *testing.B, s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			b.Fatalf("perf: bad number %q in %q", f, s)
		}
		out = append(out, n)
	}
	return out
}

// capture returns the path of a generated capture, making it if it is not
// there yet.
func capture(b *testing.B, name string, gen func(*os.File) (*capgen.Writer, error)) string {
	b.Helper()
	path := filepath.Join(*dir, name)
	if _, err := os.Stat(path); err == nil {
		return path
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		b.Fatal(err)
	}
	w, err := gen(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		b.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		b.Fatal(err)
	}
	b.Logf("generated %s: %d frames, %d bytes", name, w.Frames, w.Bytes)
	return path
}

var ftptapBin string

// ftptap builds the ftptap binary once per run.
func ftptap(b *testing.B) string {
	b.Helper()
	if ftptapBin != "" {
		return ftptapBin
	}
	bin := filepath.Join(*dir, "ftptap")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, "../../firmware")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	ftptapBin = bin
	return bin
}

// result is one run of a tool.
type result struct {
	wall, cpu time.Duration
	maxRSS    int64 // bytes
}

// run runs a command with stdout to a file (out, or /dev/null) and
// returns the fastest of -perf.runs runs, with the largest peak RSS.
//
// The peak RSS comes from /usr/bin/time, which forks: a child that Go
// starts itself shares the test's memory until it execs, and Linux counts
// the test's resident set into the child's peak.
func run(b *testing.B, out string, name string, args ...string) result {
	b.Helper()
	if out == "" {
		out = os.DevNull
	}
	timeOut := filepath.Join(*dir, "time.out")
	var best result
	for i := range *runs {
		f, err := os.Create(out)
		if err != nil {
			b.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd := exec.Command(name, args...)
		if gnuTime != "" {
			cmd = exec.Command(gnuTime, append([]string{"-f", "%M", "-o", timeOut, name}, args...)...)
		}
		cmd.Stdout, cmd.Stderr = f, &stderr
		start := time.Now()
		err = cmd.Run()
		wall := time.Since(start)
		f.Close()
		if err != nil {
			b.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.Bytes())
		}
		ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		r := result{wall: wall, cpu: time.Duration(ru.Utime.Nano() + ru.Stime.Nano())}
		if gnuTime != "" {
			kb, err := os.ReadFile(timeOut)
			if err != nil {
				b.Fatal(err)
			}
			n, _ := strconv.ParseInt(strings.TrimSpace(string(kb)), 10, 64)
			r.maxRSS = n << 10
		}
		rss := max(best.maxRSS, r.maxRSS)
		if i == 0 || r.wall < best.wall {
			best = r
		}
		best.maxRSS = rss
	}
	return best
}

// gnuTime is GNU time (Debian's package time), for peak RSS; without it
// peak RSS is reported as 0.
var gnuTime = func() string {
	p, _ := exec.LookPath("/usr/bin/time")
	return p
}()

// lines counts the lines of a file.
func lines(b *testing.B, path string) int {
	b.Helper()
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	n := 0
	buf := make([]byte, 1<<20)
	for {
		m, err := f.Read(buf)
		n += bytes.Count(buf[:m], []byte{'\n'})
		if err != nil {
			return n
		}
	}
}

// BenchmarkMixed replays the mixed capture (FTP sessions of every kind
// among HTTP noise and a SYN flood on port 21; -perf.scales copies of it)
// with ftptap replay, tcpdump -r F -w /dev/null (the read floor) and
// tshark -Y ftp, in the same run, and reports each one's time, CPU and
// peak RSS and the ratios. Each tool runs -perf.runs times; the fastest run
// counts.
//
//	make bench    (go test -run='^$' -bench=Mixed ./internal/perf -perf)
func BenchmarkMixed(b *testing.B) {
	need(b)
	bin := ftptap(b)
	_, tsharkErr := exec.LookPath("tshark")
	tcpdump, tcpdumpErr := exec.LookPath("tcpdump")
	for _, scale := range ints(b, *scales) {
		b.Run(fmt.Sprintf("x%d", scale), func(b *testing.B) {
			file := capture(b, fmt.Sprintf("mixed-%d.pcap", scale), func(f *os.File) (*capgen.Writer, error) { return capgen.Mixed(f, scale) })
			st, _ := os.Stat(file)
			events := filepath.Join(*dir, "events.jsonl")
			for range b.N {
				ft := run(b, events, bin, "replay", "--tap", "bench", file)
				nev := lines(b, events)
				os.Remove(events)
				b.ReportMetric(ft.wall.Seconds(), "ftptap-s")
				b.ReportMetric(ft.cpu.Seconds(), "ftptap-cpu-s")
				b.ReportMetric(float64(ft.maxRSS)/(1<<20), "ftptap-peak-MB")
				b.ReportMetric(float64(nev), "events")
				b.ReportMetric(float64(st.Size())/(1<<20), "capture-MB")
				// The constant of the scaling table: CPU per MB of capture.
				b.ReportMetric(ft.cpu.Seconds()*1e3/(float64(st.Size())/(1<<20)), "ftptap-cpu-ms/MB")
				line := fmt.Sprintf("mixed x%d (%d MB): ftptap replay %.2fs (cpu %.2fs, %.1f ms of CPU per MB, peak RSS %d MB, %d events)",
					scale, st.Size()>>20, ft.wall.Seconds(), ft.cpu.Seconds(), ft.cpu.Seconds()*1e3/(float64(st.Size())/(1<<20)), ft.maxRSS>>20, nev)
				if tcpdumpErr == nil {
					td := run(b, "", tcpdump, "-r", file, "-w", os.DevNull)
					b.ReportMetric(td.wall.Seconds(), "tcpdump-s")
					b.ReportMetric(ft.wall.Seconds()/td.wall.Seconds(), "ftptap/tcpdump")
					b.ReportMetric(ft.cpu.Seconds()/td.cpu.Seconds(), "ftptap/tcpdump-cpu")
					line += fmt.Sprintf("; tcpdump -r -w /dev/null %.2fs (cpu %.2fs): ftptap at %.2fx the read floor (%.2fx in CPU)",
						td.wall.Seconds(), td.cpu.Seconds(), ft.wall.Seconds()/td.wall.Seconds(), ft.cpu.Seconds()/td.cpu.Seconds())
				} else {
					line += "; tcpdump: not installed (apt-get install tcpdump), no read floor"
				}
				switch {
				case tsharkErr != nil:
					line += "; tshark: not installed (apt-get install tshark), no tshark column"
				case scale > *tsharkMax:
					line += fmt.Sprintf("; tshark: skipped above -perf.tshark-scale=%d", *tsharkMax)
				default:
					ts := run(b, "", "tshark", "-n", "-r", file, "-Y", "ftp")
					b.ReportMetric(ts.wall.Seconds(), "tshark-s")
					b.ReportMetric(ts.wall.Seconds()/ft.wall.Seconds(), "tshark/ftptap")
					line += fmt.Sprintf("; tshark -Y ftp %.2fs (cpu %.2fs, peak RSS %d MB): %.0fx slower than ftptap",
						ts.wall.Seconds(), ts.cpu.Seconds(), ts.maxRSS>>20, ts.wall.Seconds()/ft.wall.Seconds())
				}
				fmt.Fprintln(os.Stderr, line)
			}
			if *dropLarge && scale > 1 {
				os.Remove(file)
			}
		})
	}
}

// BenchmarkIdleReplay replays captures of -perf.sessions sessions that
// log in and never close (caps and the memory budget raised to fit them),
// and reports ftptap's peak RSS for each and the RSS each session adds,
// from the difference between the smallest and the largest capture, and
// between each capture and the next: the cost is linear when these steps
// agree. It prints the constants: the RSS with no session (the line
// through the smallest and largest) and the bytes per session.
//
//	make bench    (go test -run='^$' -bench=IdleReplay ./internal/perf -perf)
func BenchmarkIdleReplay(b *testing.B) {
	need(b)
	bin := ftptap(b)
	counts := ints(b, *opens)
	cfg := filepath.Join(*dir, "caps.yaml")
	if err := os.WriteFile(cfg, []byte("limits:\n  sessions: 1000000\n  data_conns: 1000000\n  memory_mib: 1024\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	for range b.N {
		for _, data := range []bool{false, true} {
			kind := "idle"
			if data {
				kind = "idle-data"
			}
			var first, last, prev result
			for i, n := range counts {
				file := capture(b, fmt.Sprintf("%s-%d.pcap", kind, n), func(f *os.File) (*capgen.Writer, error) { return capgen.Idle(f, n, data) })
				r := run(b, "", bin, "replay", "--tap", "bench", "--config", cfg, file)
				b.ReportMetric(float64(r.maxRSS)/(1<<20), fmt.Sprintf("%s-%d-peak-MB", kind, n))
				fmt.Fprintf(os.Stderr, "%s x%d: ftptap replay %.2fs, peak RSS %d MB\n", kind, n, r.wall.Seconds(), r.maxRSS>>20)
				if i == 0 {
					first = r
				} else {
					step := float64(r.maxRSS-prev.maxRSS) / float64(n-counts[i-1])
					b.ReportMetric(step, fmt.Sprintf("%s-%d-%d-B/session", kind, counts[i-1], n))
					fmt.Fprintf(os.Stderr, "%s: %.0f B of peak RSS per session from %d to %d sessions\n", kind, step, counts[i-1], n)
				}
				prev, last = r, r
			}
			if len(counts) > 1 {
				n0, n1 := counts[0], counts[len(counts)-1]
				per := float64(last.maxRSS-first.maxRSS) / float64(n1-n0)
				b.ReportMetric(per, kind+"-B/session")
				base := float64(first.maxRSS) - per*float64(n0)
				b.ReportMetric(base/(1<<20), kind+"-base-MB")
				fmt.Fprintf(os.Stderr, "%s: %.0f B of peak RSS per session (%d to %d sessions); constants: peak RSS = %.1f MB + %.0f B x sessions\n", kind, per, n0, n1, base/(1<<20), per)
			}
		}
	}
}
