package tftpstate

import (
	"fmt"
	"time"
)

// Config holds the tracker's knobs. A nil *Config, and every zero field,
// takes the default given beside the field.
type Config struct {
	// ServerPorts are the UDP ports TFTP servers take requests on.
	// Default: 69.
	ServerPorts []uint16
	// Timeout ends a transfer with no packet for this long (packet time),
	// with reason "timeout". Clients give up sooner (tftp-hpa after 25s,
	// atftp after 5 tries of 5s). Default: 30s.
	Timeout time.Duration
	// Linger is how long a finished transfer's endpoints are remembered, so
	// that its last retransmissions are not taken for something new.
	// Default: 5s.
	Linger time.Duration
	// MaxTransfers caps the transfers tracked at once (finished ones that
	// linger included). Default: 4096.
	MaxTransfers int

	// OnData, when not nil, receives the payload of every DATA block of a
	// transfer, repeats included, with its offset in the file (for carving
	// files). It is called before the events the block causes. The segment
	// is valid only during the call.
	OnData func(*DataSegment)
}

// DataSegment is one DATA block handed to Config.OnData.
type DataSegment struct {
	Transfer uint64 // the transfer's session id in its events
	File     string
	// Block is the absolute block number (1 on, past the 16-bit wrap).
	Block int64
	// Offset is the block's offset in the file: (Block-1) times the
	// block size in force (512, or the blksize of the server's OACK).
	Offset int64
	// Repeat is true for a block already seen (a retransmission or a
	// duplicate); the first copy is the one to keep.
	Repeat  bool
	Payload []byte // the block's bytes as captured (short if the capture cut it)
}

const (
	defaultTimeout      = 30 * time.Second
	defaultLinger       = 5 * time.Second
	defaultMaxTransfers = 4096
)

// Validate reports the first field out of range, by name.
func (c *Config) Validate() error {
	if c == nil {
		return nil
	}
	for _, p := range c.ServerPorts {
		if p == 0 {
			return fmt.Errorf("tftpstate: ServerPorts: port 0 is not a port")
		}
	}
	switch {
	case c.Timeout < 0:
		return fmt.Errorf("tftpstate: Timeout %v is negative", c.Timeout)
	case c.Linger < 0:
		return fmt.Errorf("tftpstate: Linger %v is negative", c.Linger)
	case c.MaxTransfers < 0:
		return fmt.Errorf("tftpstate: MaxTransfers %d is negative", c.MaxTransfers)
	}
	return nil
}

// withDefaults returns a copy of c with every zero field set.
func (c *Config) withDefaults() Config {
	var d Config
	if c != nil {
		d = *c
	}
	if len(d.ServerPorts) == 0 {
		d.ServerPorts = []uint16{69}
	}
	if d.Timeout == 0 {
		d.Timeout = defaultTimeout
	}
	if d.Linger == 0 {
		d.Linger = defaultLinger
	}
	if d.MaxTransfers == 0 {
		d.MaxTransfers = defaultMaxTransfers
	}
	return d
}
