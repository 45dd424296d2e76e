package tap

import (
	"net/netip"
	"testing"

	"golang.org/x/net/bpf"
)

// TestFilterDataEndpoints: with data-channel endpoints in the table, their
// segments pass whole, both ways, IPv4 and IPv6; other bulk data still
// does not.
func TestFilterDataEndpoints(t *testing.T) {
	eps := []netip.AddrPort{
		netip.MustParseAddrPort("192.0.2.2:50000"),         // passive: the server's port (the frames' destination)
		netip.MustParseAddrPort("192.0.2.1:20"),            // active: the server's port 20 (the frames' source)
		netip.MustParseAddrPort("[2001:db8::2]:6000"),      // IPv6
		netip.MustParseAddrPort("[::ffff:192.0.2.2]:7000"), // IPv4 in IPv6 form, as EPRT may give it
	}
	prog, err := filterProgramData(FilterFTP, []uint16{21}, &DataFilter{Endpoints: eps, Pairs: [][2]netip.Addr{{netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("198.51.100.2")}}})
	if err != nil {
		t.Fatal(err)
	}
	vm, err := bpf.NewVM(prog)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		f    frameSpec
		want bool
	}{
		{"to a passive endpoint", frameSpec{ip: 4, sport: 40000, dport: 50000, payload: "STOR bytes"}, true},
		{"from a passive endpoint's port, other host", frameSpec{ip: 4, sport: 50000, dport: 40000, payload: "x"}, false},
		{"from port 20", frameSpec{ip: 4, sport: 20, dport: 40000, payload: "RETR bytes"}, true},
		{"to port 20 of the other host", frameSpec{ip: 4, sport: 40000, dport: 20, payload: "x"}, false},
		{"v6 to the endpoint", frameSpec{ip: 6, sport: 40000, dport: 6000, payload: "x"}, true},
		{"v6 from the endpoint's port, other host", frameSpec{ip: 6, sport: 6000, dport: 40000, payload: "x"}, false},
		{"mapped v4 endpoint", frameSpec{ip: 4, sport: 40000, dport: 7000, payload: "x"}, true},
		{"v6 frame, v4 endpoint's port", frameSpec{ip: 6, sport: 40000, dport: 50000, payload: "x"}, false},
		{"unrelated bulk", frameSpec{ip: 4, sport: 5201, dport: 40000, payload: "iperf"}, false},
		{"unrelated v6 bulk", frameSpec{ip: 6, sport: 5201, dport: 40000, payload: "iperf"}, false},
		{"command channel still", frameSpec{ip: 4, sport: 40000, dport: 21, payload: "PASV\r\n"}, true},
		{"SYN still", frameSpec{ip: 4, sport: 40000, dport: 5201, syn: true}, true},
	} {
		b := tt.f.bytes(t)
		n, err := vm.Run(b)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if got := n > 0; got != tt.want {
			t.Errorf("%s: pass = %v, want %v", tt.name, got, tt.want)
		}
		if n > 0 && n < len(b) {
			t.Errorf("%s: keeps %d of %d bytes", tt.name, n, len(b))
		}
	}
}

// TestFilterHostPairs: between the two hosts of a session, segments pass
// when both ports are 20 or unprivileged; to their service ports, or
// between other hosts, they do not.
func TestFilterHostPairs(t *testing.T) {
	df := &DataFilter{Pairs: [][2]netip.Addr{
		{netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("192.0.2.1")}, // the frames' hosts, either order
		{netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")},
	}}
	prog, err := filterProgramData(FilterFTP, []uint16{21}, df)
	if err != nil {
		t.Fatal(err)
	}
	vm, err := bpf.NewVM(prog)
	if err != nil {
		t.Fatal(err)
	}
	other, err := filterProgramData(FilterFTP, []uint16{21}, &DataFilter{Pairs: [][2]netip.Addr{{netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.9")}}})
	if err != nil {
		t.Fatal(err)
	}
	vmOther, _ := bpf.NewVM(other)
	for _, tt := range []struct {
		name        string
		f           frameSpec
		want, wantO bool
	}{
		{"passive data", frameSpec{ip: 4, sport: 40000, dport: 50000, payload: "x"}, true, false},
		{"active data from 20", frameSpec{ip: 4, sport: 20, dport: 50000, payload: "x"}, true, false},
		{"to ssh", frameSpec{ip: 4, sport: 40000, dport: 22, payload: "x"}, false, false},
		{"from https", frameSpec{ip: 4, sport: 443, dport: 40000, payload: "x"}, false, false},
		{"v6 data", frameSpec{ip: 6, sport: 40000, dport: 50000, payload: "x"}, true, false},
		{"v6 to port 80", frameSpec{ip: 6, sport: 40000, dport: 80, payload: "x"}, false, false},
	} {
		b := tt.f.bytes(t)
		if n, _ := vm.Run(b); (n > 0) != tt.want {
			t.Errorf("%s: pass = %v, want %v", tt.name, n > 0, tt.want)
		}
		if n, _ := vmOther.Run(b); (n > 0) != tt.wantO {
			t.Errorf("%s, another pair: pass = %v, want %v", tt.name, n > 0, tt.wantO)
		}
	}
}

// TestFilterDataEndpointsMax: the most endpoints and host pairs allowed,
// all IPv6 (the longest), fit a classic BPF program (4096 instructions), ingress check
// and most control ports included, and every one of them still passes.
func TestFilterDataEndpointsMax(t *testing.T) {
	ports := make([]uint16, maxControlPorts)
	for i := range ports {
		ports[i] = uint16(1000 + i)
	}
	var eps []netip.AddrPort
	for i := range MaxDataEndpoints {
		eps = append(eps, netip.AddrPortFrom(netip.MustParseAddr("2001:db8::2"), uint16(6000+i)))
	}
	var pairs [][2]netip.Addr
	for i := range MaxHostPairs {
		pairs = append(pairs, [2]netip.Addr{netip.MustParseAddr("2001:db8::1"), netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(10 + i)})})
	}
	df := &DataFilter{Endpoints: eps, Pairs: pairs}
	raw, err := kernelFilterData(FilterFTP, ports, df)
	if err != nil {
		t.Fatal(err)
	}
	if len(raw) > 4096 {
		t.Fatalf("%d instructions: over the kernel's 4096", len(raw))
	}
	prog, err := filterProgramData(FilterFTP, ports, df)
	if err != nil {
		t.Fatal(err)
	}
	vm, err := bpf.NewVM(prog)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := filterProgramData(FilterFTP, ports, &DataFilter{Endpoints: append(eps, eps[0])}); err == nil {
		t.Error("one endpoint too many: no error")
	}
	for _, port := range []uint16{6000, 6000 + MaxDataEndpoints - 1} {
		if n, _ := vm.Run(frameSpec{ip: 6, sport: 40000, dport: port, payload: "x"}.bytes(t)); n == 0 {
			t.Errorf("endpoint port %d does not pass", port)
		}
	}
	if n, _ := vm.Run(frameSpec{ip: 6, sport: 40000, dport: 6000 + MaxDataEndpoints, payload: "x"}.bytes(t)); n != 0 {
		t.Error("a port past the table passes")
	}
	t.Logf("%d instructions", len(raw))
}
