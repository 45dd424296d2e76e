package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ftptap/ftptap/event"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func init() {
	registerSink(sinkOption{name: "metrics", flags: metricsFlags, attach: attachMetrics})
}

var (
	// metricsFlag is --metrics of ftptap run.
	metricsFlag string
	// metricsAddr is the address /metrics is served on.
	metricsAddr atomic.Value // string
)

func metricsFlags(fs *flag.FlagSet, cmd string) {
	metricsFlag = ""
	if cmd == "replay" {
		return // a replay is over before anyone could scrape it
	}
	fs.StringVar(&metricsFlag, "metrics", "", "serve Prometheus /metrics on this management `ADDRESS` (host:port) (default: the config's metrics.listen; off: none)")
}

// statusCounters returns the figures of a running command, in a fixed
// order. Status events carry them as they are and /metrics exports the same
// values (see promCounter).
//
//	packets_a, packets_b  frames captured on each tap port
//	packets               frames of no known port (a single capture file)
//	bytes, not_tcp        captured bytes; frames that were not TCP over IP
//	events, open_sessions events emitted; sessions being tracked
//	evicted, tracker_bytes  sessions ended to make room; the tracker's memory estimate
//	tftp_open, tftp_transfers  TFTP transfers being tracked; TFTP transfers ended
//	kernel_drops ...      the source's own counters (live capture)
//	nats_*                published, pending, dropped, retries, connected (0/1)
//	led_<role>            LED state: 1 off, 2 on, 3 blink-fast, 4 blink-slow
func statusCounters(env *sinkEnv) []event.Counter {
	st := &env.pipeline.Stats
	c := []event.Counter{
		{Name: "packets_a", Value: int64(st.Frames[event.SideA].Load())},
		{Name: "packets_b", Value: int64(st.Frames[event.SideB].Load())},
	}
	if n := st.Frames[event.SideUnknown].Load(); n > 0 || !env.live {
		c = append(c, event.Counter{Name: "packets", Value: int64(n)})
	}
	c = append(c,
		event.Counter{Name: "bytes", Value: int64(st.Bytes.Load())},
		event.Counter{Name: "not_tcp", Value: int64(st.NotTCP.Load())},
		event.Counter{Name: "events", Value: int64(st.Events.Load())},
		event.Counter{Name: "open_sessions", Value: st.OpenSession.Load()},
		event.Counter{Name: "evicted", Value: int64(st.Evicted.Load())},
		event.Counter{Name: "tracker_bytes", Value: st.TrackerMem.Load()},
		event.Counter{Name: "tftp_open", Value: st.TFTPOpen.Load()},
		event.Counter{Name: "tftp_transfers", Value: int64(st.TFTPEnded.Load())},
	)
	if env.counters != nil {
		c = append(c, env.counters()...)
	}
	if pub := natsPub.Load(); pub != nil {
		ps := pub.Stats()
		conn := int64(0)
		if ps.Connected {
			conn = 1
		}
		c = append(c,
			event.Counter{Name: "nats_published", Value: int64(ps.Published)},
			event.Counter{Name: "nats_pending", Value: int64(ps.Pending)},
			event.Counter{Name: "nats_dropped", Value: int64(ps.Dropped)},
			event.Counter{Name: "nats_retries", Value: int64(ps.Retries)},
			event.Counter{Name: "nats_connected", Value: conn},
		)
	}
	c = append(c, carveCounters()...)
	if panel := ledPanel.Load(); panel != nil {
		for _, s := range panel.States() {
			c = append(c, event.Counter{Name: "led_" + s.Role.String(), Value: int64(s.State)})
		}
	}
	return c
}

// promSpec says how a status counter looks in Prometheus.
type promSpec struct {
	name   string
	help   string
	typ    prometheus.ValueType
	labels []string // label name, value pairs
}

var promSpecs = map[string]promSpec{
	"packets_a":        {"ftptap_packets_total", "Frames captured, by tap port.", prometheus.CounterValue, []string{"port", "a"}},
	"packets_b":        {"ftptap_packets_total", "Frames captured, by tap port.", prometheus.CounterValue, []string{"port", "b"}},
	"packets":          {"ftptap_packets_total", "Frames captured, by tap port.", prometheus.CounterValue, []string{"port", ""}},
	"bytes":            {"ftptap_bytes_total", "Bytes captured.", prometheus.CounterValue, nil},
	"not_tcp":          {"ftptap_not_tcp_packets_total", "Frames that were not TCP over IP.", prometheus.CounterValue, nil},
	"events":           {"ftptap_events_total", "Events emitted.", prometheus.CounterValue, nil},
	"open_sessions":    {"ftptap_open_sessions", "FTP sessions being tracked.", prometheus.GaugeValue, nil},
	"evicted":          {"ftptap_evicted_sessions_total", "FTP sessions ended to make room (limits.sessions, limits.memory_mib).", prometheus.CounterValue, nil},
	"tracker_bytes":    {"ftptap_tracker_bytes", "The FTP tracker's estimate of the memory it holds (limits.memory_mib bounds it).", prometheus.GaugeValue, nil},
	"tftp_open":        {"ftptap_tftp_open_transfers", "TFTP transfers being tracked.", prometheus.GaugeValue, nil},
	"tftp_transfers":   {"ftptap_tftp_transfers_total", "TFTP transfers ended.", prometheus.CounterValue, nil},
	"kernel_drops":     {"ftptap_kernel_drops_total", "Frames the kernel dropped before ftptap read them.", prometheus.CounterValue, nil},
	"kernel_packets_a": {"ftptap_kernel_packets_total", "Frames the kernel's filter passed, by tap port.", prometheus.CounterValue, []string{"port", "a"}},
	"kernel_packets_b": {"ftptap_kernel_packets_total", "Frames the kernel's filter passed, by tap port.", prometheus.CounterValue, []string{"port", "b"}},
	"kernel_freeze_a":  {"ftptap_kernel_freeze_total", "Times the capture ring was full and the kernel froze its queue, by tap port.", prometheus.CounterValue, []string{"port", "a"}},
	"kernel_freeze_b":  {"ftptap_kernel_freeze_total", "Times the capture ring was full and the kernel froze its queue, by tap port.", prometheus.CounterValue, []string{"port", "b"}},
	"nats_published":   {"ftptap_nats_published_total", "Events the NATS server acknowledged.", prometheus.CounterValue, nil},
	"nats_pending":     {"ftptap_nats_pending", "Events queued or spooled for NATS.", prometheus.GaugeValue, nil},
	"nats_dropped":     {"ftptap_nats_dropped_total", "Events dropped because the NATS queue or spool was full.", prometheus.CounterValue, nil},
	"nats_retries":     {"ftptap_nats_retries_total", "Failed NATS sends, each retried.", prometheus.CounterValue, nil},
	"nats_connected":   {"ftptap_nats_connected", "1 while connected to the NATS server.", prometheus.GaugeValue, nil},
}

// promCounter maps a status counter onto its metric: a known name by
// promSpecs, led_<role> onto ftptap_led_state{role}, anything else onto a
// gauge ftptap_<name>.
func promCounter(name string) promSpec {
	if s, ok := promSpecs[name]; ok {
		return s
	}
	if role, ok := strings.CutPrefix(name, "led_"); ok {
		return promSpec{"ftptap_led_state", "LED state: 1 off, 2 on, 3 blink-fast, 4 blink-slow.", prometheus.GaugeValue, []string{"role", role}}
	}
	if strings.HasSuffix(name, "_total") || strings.HasSuffix(name, "_drops") {
		n := "ftptap_" + name
		if !strings.HasSuffix(n, "_total") {
			n += "_total"
		}
		return promSpec{n, "ftptap counter " + name + ".", prometheus.CounterValue, nil}
	}
	return promSpec{"ftptap_" + name, "ftptap figure " + name + ".", prometheus.GaugeValue, nil}
}

// statusCollector exports statusCounters at each scrape.
type statusCollector struct {
	env *sinkEnv
}

// Describe sends nothing: the metrics depend on what is attached (an
// unchecked collector).
func (c statusCollector) Describe(chan<- *prometheus.Desc) {}

func (c statusCollector) Collect(ch chan<- prometheus.Metric) {
	descs := map[string]*prometheus.Desc{}
	for _, ctr := range statusCounters(c.env) {
		s := promCounter(ctr.Name)
		var names, values []string
		for i := 0; i+1 < len(s.labels); i += 2 {
			names = append(names, s.labels[i])
			values = append(values, s.labels[i+1])
		}
		key := s.name + "/" + strings.Join(names, ",")
		d := descs[key]
		if d == nil {
			d = prometheus.NewDesc(s.name, s.help, names, nil)
			descs[key] = d
		}
		m, err := prometheus.NewConstMetric(d, s.typ, float64(ctr.Value), values...)
		if err != nil {
			ch <- prometheus.NewInvalidMetric(d, err)
			continue
		}
		ch <- m
	}
}

// newMetricsHandler returns the /metrics handler for env: the status
// counters plus Go runtime and process metrics.
func newMetricsHandler(env *sinkEnv) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		statusCollector{env: env},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(slog.Default().Handler(), slog.LevelWarn)})
}

// attachMetrics serves /metrics on the management address while ftptap run
// captures.
func attachMetrics(ctx context.Context, env *sinkEnv) (func() error, error) {
	if !env.live || metricsFlag == "off" {
		return nil, nil
	}
	addr, key := metricsFlag, "--metrics"
	if addr == "" {
		addr, key = env.cfg.Metrics.Listen, "metrics.listen"
	}
	if addr == "" {
		return nil, nil
	}
	if err := checkManagementAddr(env.cfg, addr, key); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", newMetricsHandler(env))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			slog.Error("metrics: " + err.Error())
		}
	})
	metricsAddr.Store(ln.Addr().String())
	slog.Info("metrics: serving /metrics", "addr", ln.Addr().String())
	var once sync.Once
	return func() error {
		once.Do(func() {
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			srv.Shutdown(sctx)
			wg.Wait()
		})
		return nil
	}, nil
}
