package tap

import "context"

// PortWatch follows the links of the tap ports (see WatchPorts).
type PortWatch struct {
	names []string
	sys   portWatchSys
}

// WatchPorts subscribes to the kernel's link notifications (in the
// network namespace of the calling thread) for the named ports. Run then
// reports their changes. Capture itself needs nothing of this: the kernel
// resumes it when a port comes back.
func WatchPorts(names ...string) (*PortWatch, error) {
	w := &PortWatch{names: names}
	if err := w.sys.open(); err != nil {
		return nil, err
	}
	return w, nil
}

// Run calls fn on each change of a port's link: up means the interface is
// administratively up and has a carrier, so a pulled cable is a change to
// down and plugging it back one to up. fn first gets the state of each
// port found at the start, then changes only; i indexes the names given
// to WatchPorts. Run returns nil once ctx ends, or the error of the
// notifications; either way the subscription is closed.
func (w *PortWatch) Run(ctx context.Context, fn func(i int, up bool)) error {
	return w.sys.run(ctx, w.names, fn)
}
