//go:build linux

// Command ftplab builds and removes the lab of package lab from a shell,
// and drives its scenarios: lab/lab.sh runs it.
//
//	ftplab up [-bridge] [-name NAME]   build a lab, print its names
//	ftplab down [NAME...]              remove labs (default: all)
//	ftplab status                      list labs and what runs in them
//	ftplab play NAME SCENARIO...       run scenarios in a lab ("all": every one)
//	ftplab view                        read events on stdin, print them readably
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/ftptap/ftptap/internal/lab"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "ftplab:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return errors.New("usage: ftplab up|down|status|play|view")
	}
	switch args[0] {
	case "up":
		fs := flag.NewFlagSet("up", flag.ContinueOnError)
		bridge := fs.Bool("bridge", false, "bridge the tap ports (without it, ftptap run does)")
		name := fs.String("name", "", "suffix of the namespaces' names (default: random)")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if why := lab.CanRun(); why != "" {
			return errors.New(why)
		}
		l, err := lab.Start(lab.Options{Bridge: *bridge, Name: *name, Detach: true})
		if err != nil {
			return err
		}
		if err := l.Save(); err != nil {
			l.Close()
			return err
		}
		fmt.Printf("LAB=%s\nCLIENT_NS=%s\nTAP_NS=%s\nSERVER_NS=%s\nLAB_DIR=%s\nPORT_A=%s\nPORT_B=%s\n",
			l.Name, l.ClientNS, l.TapNS, l.ServerNS, l.Dir, lab.PortA, lab.PortB)
		return nil
	case "down":
		names := args[1:]
		if len(names) == 0 {
			names = lab.Saved()
		}
		var errs []error
		for _, n := range names {
			l, err := lab.Load(n)
			if err == nil {
				err = l.Close()
			}
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	case "status":
		names := lab.Saved()
		if len(names) == 0 {
			fmt.Println("no lab is up")
		}
		for _, n := range names {
			l, err := lab.Load(n)
			if err != nil {
				return err
			}
			fmt.Printf("lab %s (files in %s)\n", l.Name, l.Dir)
			for _, ns := range []string{l.ClientNS, l.TapNS, l.ServerNS} {
				out, err := exec.Command("ip", "netns", "pids", ns).Output()
				if err != nil {
					fmt.Printf("  %-22s missing\n", ns)
					continue
				}
				var procs []string
				for _, pid := range strings.Fields(string(out)) {
					comm, _ := os.ReadFile("/proc/" + pid + "/comm")
					procs = append(procs, strings.TrimSpace(string(comm))+"["+pid+"]")
				}
				fmt.Printf("  %-22s %s\n", ns, strings.Join(procs, " "))
			}
			if br := l.Bridged(); br != "" {
				fmt.Printf("  tap ports bridged by %s\n", br)
			} else {
				fmt.Printf("  tap ports not bridged\n")
			}
		}
		return nil
	case "play":
		if len(args) < 3 {
			return errors.New("usage: ftplab play NAME SCENARIO...")
		}
		l, err := lab.Load(args[1])
		if err != nil {
			return err
		}
		names := args[2:]
		if len(names) == 1 && names[0] == "all" {
			names = nil
			for _, s := range lab.Scenarios {
				names = append(names, s.Name)
			}
		}
		for _, n := range names {
			sc, ok := lab.ScenarioByName(n)
			if !ok {
				return fmt.Errorf("no scenario %q", n)
			}
			fmt.Fprintf(os.Stderr, "== %s: %s\n", sc.Name, sc.About)
			if sc.Setup != nil {
				if err := sc.Setup(l); err != nil {
					return err
				}
			}
			_, _, err := sc.Run(l, ctx)
			if sc.Setup != nil {
				l.Unreject()
			}
			if err != nil {
				return fmt.Errorf("%s: %w", sc.Name, err)
			}
			// A breath between scenarios, so that a live view shows each
			// scenario's events under its heading.
			time.Sleep(500 * time.Millisecond)
		}
		return nil
	case "view":
		return view(os.Stdin, os.Stdout)
	}
	return fmt.Errorf("unknown command %q", args[0])
}
