package tap

import (
	"context"
	"net"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

type portWatchSys struct {
	ch   chan netlink.LinkUpdate
	done chan struct{}
	errc chan error
}

func (s *portWatchSys) open() error {
	s.ch = make(chan netlink.LinkUpdate, 16)
	s.done = make(chan struct{})
	s.errc = make(chan error, 1)
	err := netlink.LinkSubscribeWithOptions(s.ch, s.done, netlink.LinkSubscribeOptions{
		ListExisting: true,
		ErrorCallback: func(err error) {
			select {
			case s.errc <- err:
			default:
			}
		},
	})
	if err != nil {
		return &OpError{Op: "watch links", Err: err}
	}
	return nil
}

func (s *portWatchSys) run(ctx context.Context, names []string, fn func(i int, up bool)) error {
	defer func() {
		close(s.done)
		for range s.ch { // the subscription closes ch once it has stopped
		}
	}()
	known := make(map[int]bool)
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-s.errc:
			return &OpError{Op: "watch links", Err: err}
		case u, ok := <-s.ch:
			if !ok {
				return &OpError{Op: "watch links", Err: net.ErrClosed}
			}
			a := u.Attrs()
			for i, name := range names {
				if a.Name != name {
					continue
				}
				up := u.Header.Type != unix.RTM_DELLINK && a.Flags&net.FlagUp != 0 && a.RawFlags&unix.IFF_LOWER_UP != 0
				if was, seen := known[i]; !seen || was != up {
					known[i] = up
					fn(i, up)
				}
			}
		}
	}
}
