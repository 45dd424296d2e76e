//go:build linux

package lab

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
)

// Scenario is one thing the lab does with its real clients and servers.
// Setup, if set, changes the lab first (a firewall rule). Run drives the
// clients and checks that the lab did what it meant (files arrived whole,
// failures failed); it returns the client runs for Truth and the SHA-256
// of what it moved, by file name.
type Scenario struct {
	Name  string
	About string
	Setup func(l *Lab) error
	Run   func(l *Lab, ctx context.Context) ([]*Run, map[string]string, error)
}

// Scenarios are the lab's scenarios, each small enough that its capture
// can be kept as testdata.
var Scenarios = []Scenario{
	{
		Name:  "pasv-retr",
		About: "PASV download from vsftpd",
		Run: func(l *Lab, ctx context.Context) ([]*Run, map[string]string, error) {
			return l.download(ctx, Vsftpd, false, "f65536.bin", "--disable-epsv")
		},
	},
	{
		Name:  "epsv-retr",
		About: "EPSV download from pure-ftpd",
		Run: func(l *Lab, ctx context.Context) ([]*Run, map[string]string, error) {
			return l.download(ctx, PureFTPd, false, "f65536.bin")
		},
	},
	{
		Name:  "port-stor",
		About: "PORT upload to vsftpd",
		Run: func(l *Lab, ctx context.Context) ([]*Run, map[string]string, error) {
			return l.upload(ctx, Vsftpd, false, File{"up30000.bin", 30000}, "port-stor.bin", "--ftp-port", ClientIP4.String(), "--disable-eprt")
		},
	},
	{
		Name:  "eprt-stor",
		About: "EPRT upload to pure-ftpd",
		Run: func(l *Lab, ctx context.Context) ([]*Run, map[string]string, error) {
			return l.upload(ctx, PureFTPd, false, File{"up40000.bin", 40000}, "eprt-stor.bin", "--ftp-port", ClientIP4.String())
		},
	},
	{
		Name:  "ipv6",
		About: "over IPv6: EPSV download from vsftpd, EPRT upload to pure-ftpd",
		Run: func(l *Lab, ctx context.Context) ([]*Run, map[string]string, error) {
			r1, s1, err := l.download(ctx, Vsftpd, true, "f4096.bin")
			if err != nil {
				return r1, s1, err
			}
			r2, s2, err := l.upload(ctx, PureFTPd, true, File{"up20000.bin", 20000}, "v6.bin", "--ftp-port", "-")
			for k, v := range s2 {
				s1[k] = v
			}
			return append(r1, r2...), s1, err
		},
	},
	{
		Name:  "multi",
		About: "one lftp session on vsftpd: LIST, two RETR and a STOR in passive mode, a RETR in active mode",
		Run:   (*Lab).multi,
	},
	{
		Name:  "concurrent",
		About: "8 sessions at once, half on each server, PASV, EPSV, PORT and EPRT",
		Run:   (*Lab).concurrent,
	},
	{
		Name:  "badlogin",
		About: "a wrong password (530), then the right one and a download from the user's home",
		Run:   (*Lab).badLogin,
	},
	{
		Name:  "refused-retr",
		About: "vsftpd refuses RETR of a missing file and of a directory (550); the LIST after them, with no new PASV, uses the same passive port, and an NLST the same PORT after a refused RETR",
		Run:   (*Lab).refusedRetr,
	},
	{
		Name:  "half-close",
		About: "a client that closes without QUIT, and one whose FIN follows its QUIT before the 221 comes (the server's last reply after the client's FIN)",
		Run:   (*Lab).halfClose,
	},
	{
		Name:  "pasv-refused",
		About: "the passive data connection answered by a RST (a firewall rejects the passive ports)",
		Setup: func(l *Lab) error { return l.Reject(Vsftpd, false) },
		Run: func(l *Lab, ctx context.Context) ([]*Run, map[string]string, error) {
			r := l.Curl(ctx, "--disable-epsv", "-o", "/dev/null", Vsftpd.URL(false, "pub/f1000.bin"))
			if r.Err == nil {
				return []*Run{r}, nil, errors.New("the download worked through a rejecting firewall")
			}
			return []*Run{r}, nil, nil
		},
	},
	{
		Name:  "pasv-timeout",
		About: "the passive data connection silently dropped (a firewall drops SYNs to the passive ports)",
		Setup: func(l *Lab) error { return l.Reject(Vsftpd, true) },
		Run: func(l *Lab, ctx context.Context) ([]*Run, map[string]string, error) {
			r := l.Curl(ctx, "--disable-epsv", "--connect-timeout", "2", "-o", "/dev/null", Vsftpd.URL(false, "pub/f1000.bin"))
			if r.Err == nil {
				return []*Run{r}, nil, errors.New("the download worked through a dropping firewall")
			}
			return []*Run{r}, nil, nil
		},
	},
}

// ScenarioByName returns the scenario called name.
func ScenarioByName(name string) (Scenario, bool) {
	for _, s := range Scenarios {
		if s.Name == name {
			return s, true
		}
	}
	return Scenario{}, false
}

var dlSeq atomic.Int64

// download fetches pub/name with curl and checks what arrived.
func (l *Lab) download(ctx context.Context, s Server, v6 bool, name string, args ...string) ([]*Run, map[string]string, error) {
	f, ok := knownFile(name)
	if !ok {
		return nil, nil, fmt.Errorf("lab: no file %s", name)
	}
	out := filepath.Join(l.ClientDir(), fmt.Sprintf("dl%d-%s-%s", dlSeq.Add(1), s.Name, name))
	args = append(args, "-g", "-o", out, s.URL(v6, "pub/"+name))
	r := l.Curl(ctx, args...)
	if r.Err != nil {
		return []*Run{r}, nil, r.Err
	}
	if err := checkSum(out, f.SHA256()); err != nil {
		return []*Run{r}, nil, err
	}
	return []*Run{r}, map[string]string{name: f.SHA256()}, nil
}

// upload sends f to upload/as with curl and checks what landed.
func (l *Lab) upload(ctx context.Context, s Server, v6 bool, f File, as string, args ...string) ([]*Run, map[string]string, error) {
	src, err := l.ClientFile(f)
	if err != nil {
		return nil, nil, err
	}
	args = append(args, "-g", "-T", src, s.URL(v6, "upload/"+as))
	r := l.Curl(ctx, args...)
	if r.Err != nil {
		return []*Run{r}, nil, r.Err
	}
	if err := checkSum(l.UploadPath(as), f.SHA256()); err != nil {
		return []*Run{r}, nil, err
	}
	return []*Run{r}, map[string]string{as: f.SHA256()}, nil
}

func checkSum(path, want string) error {
	got, err := FileSHA256(path)
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	if got != want {
		return fmt.Errorf("lab: %s: sha256 %s, want %s", path, got, want)
	}
	return nil
}

func (l *Lab) multi(ctx context.Context) ([]*Run, map[string]string, error) {
	up := File{"up30000.bin", 30000}
	src, err := l.ClientFile(up)
	if err != nil {
		return nil, nil, err
	}
	dir := l.ClientDir()
	r := l.Lftp(ctx, fmt.Sprintf(`set ftp:passive-mode on; set ftp:prefer-epsv no
open -u anonymous, ftp://%s
cls -l pub
get pub/f1000.bin -o %s/m-f1000.bin
get pub/f65536.bin -o %s/m-f65536.bin
put %s -o upload/multi.bin
set ftp:passive-mode off
get pub/readme.txt -o %s/m-readme.txt
quit`, Vsftpd.IP4, dir, dir, src, dir))
	if r.Err != nil {
		return []*Run{r}, nil, r.Err
	}
	sums := map[string]string{"multi.bin": up.SHA256()}
	checks := map[string]string{
		filepath.Join(dir, "m-f1000.bin"):  "f1000.bin",
		filepath.Join(dir, "m-f65536.bin"): "f65536.bin",
		filepath.Join(dir, "m-readme.txt"): "readme.txt",
		l.UploadPath("multi.bin"):          "",
	}
	for p, name := range checks {
		want := up.SHA256()
		if name != "" {
			f, _ := knownFile(name)
			want = f.SHA256()
			sums[name] = want
		}
		if err := checkSum(p, want); err != nil {
			return []*Run{r}, nil, err
		}
	}
	return []*Run{r}, sums, nil
}

// refusedRetr drives vsftpd with the scripted client: transfer commands
// the server refuses, each followed by one it serves on the same
// announcement.
func (l *Lab) refusedRetr(ctx context.Context) ([]*Run, map[string]string, error) {
	r := l.Scripted(ctx, Vsftpd, "USER anonymous", "CWD pub", "TYPE I",
		"PASV", "RETR nothere.bin", "RETR /", "LIST",
		"PORT", "RETR nothere.bin", "NLST",
		"QUIT")
	if r.Err != nil {
		return []*Run{r}, nil, r.Err
	}
	var codes []string
	for _, ln := range r.Sessions[0].Lines {
		if !ln.Sent && len(ln.Text) > 3 && ln.Text[3] == ' ' {
			codes = append(codes, ln.Text[:3])
		}
	}
	// Greeting, USER (the lab's vsftpd takes anonymous without a
	// password), CWD, TYPE, PASV, two refused RETRs, the LIST's 150 and
	// 226, PORT, the refused RETR, the NLST's 150 and 226, QUIT.
	want := "220 230 250 200 227 550 550 150 226 200 550 150 226 221"
	if got := strings.Join(codes, " "); got != want {
		return []*Run{r}, nil, fmt.Errorf("vsftpd answered %s, want %s", got, want)
	}
	return []*Run{r}, nil, nil
}

// halfClose ends two vsftpd sessions from the client side: by closing the
// command channel without QUIT, and by a FIN right behind QUIT.
func (l *Lab) halfClose(ctx context.Context) ([]*Run, map[string]string, error) {
	r1 := l.Scripted(ctx, Vsftpd, "USER anonymous", "CWD pub")
	if r1.Err != nil {
		return []*Run{r1}, nil, r1.Err
	}
	r2 := l.Scripted(ctx, Vsftpd, "USER anonymous", "-QUIT", "FIN")
	runs := []*Run{r1, r2}
	if r2.Err != nil {
		return runs, nil, r2.Err
	}
	if !strings.Contains(string(r2.Output), "< 221 ") {
		return runs, nil, fmt.Errorf("no 221 after the client's FIN:\n%s", r2.Output)
	}
	return runs, nil, nil
}

// Concurrent is how many sessions the concurrent scenario runs at once.
const Concurrent = 8

func (l *Lab) concurrent(ctx context.Context) ([]*Run, map[string]string, error) {
	type job struct {
		s    Server
		file string
		args []string
	}
	modes := [][]string{
		{"--disable-epsv"},
		{},
		{"--ftp-port", ClientIP4.String(), "--disable-eprt"},
		{"--ftp-port", ClientIP4.String()},
	}
	files := []string{"f1000.bin", "f4096.bin", "f65536.bin", "readme.txt"}
	var jobs []job
	for i := range Concurrent {
		s := Vsftpd
		if i%2 == 1 {
			s = PureFTPd
		}
		jobs = append(jobs, job{s, files[i%len(files)], modes[(i/2)%len(modes)]})
	}
	runs := make([]*Run, len(jobs))
	sums := make([]map[string]string, len(jobs))
	errs := make([]error, len(jobs))
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i, j := range jobs {
		wg.Go(func() {
			<-start
			var rs []*Run
			rs, sums[i], errs[i] = l.download(ctx, j.s, false, j.file, append([]string{"--limit-rate", "200k"}, j.args...)...)
			if len(rs) > 0 {
				runs[i] = rs[0]
			}
		})
	}
	close(start)
	wg.Wait()
	all := map[string]string{}
	for i := range jobs {
		for k, v := range sums[i] {
			all[k] = v
		}
	}
	var got []*Run
	for _, r := range runs {
		if r != nil {
			got = append(got, r)
		}
	}
	return got, all, errors.Join(errs...)
}

func (l *Lab) badLogin(ctx context.Context) ([]*Run, map[string]string, error) {
	bad := l.Curl(ctx, "-u", User+":wrong", "-o", "/dev/null", Vsftpd.URL(false, HomeFile.Name))
	if bad.Err == nil {
		return []*Run{bad}, nil, errors.New("lab: a wrong password logged in")
	}
	out := filepath.Join(l.ClientDir(), "bl-"+HomeFile.Name)
	good := l.Curl(ctx, "-u", User+":"+Password, "--disable-epsv", "-o", out, Vsftpd.URL(false, HomeFile.Name))
	runs := []*Run{bad, good}
	if good.Err != nil {
		return runs, nil, good.Err
	}
	if err := checkSum(out, HomeFile.SHA256()); err != nil {
		return runs, nil, err
	}
	return runs, map[string]string{HomeFile.Name: HomeFile.SHA256()}, nil
}
