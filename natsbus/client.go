package natsbus

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// TLSFiles name the PEM files of a TLS set-up. All empty: no TLS.
type TLSFiles struct {
	CA   string // CA bundle that signs the server; empty: system roots
	Cert string // client certificate, with Key
	Key  string
}

func (t TLSFiles) enabled() bool { return t.CA != "" || t.Cert != "" || t.Key != "" }

// config builds a tls.Config from the files.
func (t TLSFiles) config() (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if t.CA != "" {
		pem, err := os.ReadFile(t.CA)
		if err != nil {
			return nil, fmt.Errorf("natsbus: tls ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("natsbus: tls ca %s: no PEM certificate in it", t.CA)
		}
		c.RootCAs = pool
	}
	if (t.Cert == "") != (t.Key == "") {
		return nil, errors.New("natsbus: tls: cert and key go together")
	}
	if t.Cert != "" {
		kp, err := tls.LoadX509KeyPair(t.Cert, t.Key)
		if err != nil {
			return nil, fmt.Errorf("natsbus: tls cert: %w", err)
		}
		c.Certificates = []tls.Certificate{kp}
	}
	return c, nil
}

// ClientOptions say how to reach an external NATS server or cluster.
type ClientOptions struct {
	URLs     []string // one or more nats:// or tls:// URLs of the servers
	Name     string   // connection name shown by the server
	Token    string
	User     string
	Password string
	NKeyFile string // file with an NKey seed (SU...)
	Creds    string // a .creds file (JWT and seed)
	TLS      TLSFiles
	Logf     func(format string, args ...any) // connection events; nil: none
}

// Dial connects to the servers in o for a Publisher or a subscriber. The
// connection retries for ever, also when the first attempt fails, and keeps
// no reconnect buffer: a Publisher's spool does that job, and survives what
// an in-memory buffer does not.
func Dial(o ClientOptions) (*nats.Conn, error) {
	if len(o.URLs) == 0 {
		return nil, errors.New("natsbus: no server URL")
	}
	opts, err := o.natsOptions()
	if err != nil {
		return nil, err
	}
	opts = append(opts,
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.ReconnectBufSize(-1),
		nats.RetryOnFailedConnect(true),
	)
	nc, err := nats.Connect(strings.Join(o.URLs, ","), opts...)
	if err != nil {
		return nil, fmt.Errorf("natsbus: connect %s: %w", strings.Join(o.URLs, ","), err)
	}
	return nc, nil
}

// DialOnce connects to the servers in o and fails if none answers: for
// tools such as ftptap watch, where a person waits for the answer.
func DialOnce(o ClientOptions) (*nats.Conn, error) {
	if len(o.URLs) == 0 {
		return nil, errors.New("natsbus: no server URL")
	}
	opts, err := o.natsOptions()
	if err != nil {
		return nil, err
	}
	opts = append(opts, nats.MaxReconnects(-1), nats.ReconnectWait(time.Second))
	nc, err := nats.Connect(strings.Join(o.URLs, ","), opts...)
	if err != nil {
		return nil, fmt.Errorf("natsbus: connect %s: %w", strings.Join(o.URLs, ","), err)
	}
	return nc, nil
}

func (o *ClientOptions) natsOptions() ([]nats.Option, error) {
	var opts []nats.Option
	if o.Name != "" {
		opts = append(opts, nats.Name(o.Name))
	}
	if o.Token != "" {
		opts = append(opts, nats.Token(o.Token))
	}
	if o.User != "" {
		opts = append(opts, nats.UserInfo(o.User, o.Password))
	}
	if o.NKeyFile != "" {
		opt, err := nats.NkeyOptionFromSeed(o.NKeyFile)
		if err != nil {
			return nil, fmt.Errorf("natsbus: nkey %s: %w", o.NKeyFile, err)
		}
		opts = append(opts, opt)
	}
	if o.Creds != "" {
		if _, err := os.Stat(o.Creds); err != nil {
			return nil, fmt.Errorf("natsbus: creds: %w", err)
		}
		opts = append(opts, nats.UserCredentials(o.Creds))
	}
	if o.TLS.enabled() {
		tc, err := o.TLS.config()
		if err != nil {
			return nil, err
		}
		opts = append(opts, nats.Secure(tc))
	}
	if logf := o.Logf; logf != nil {
		opts = append(opts,
			nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
				if err != nil {
					logf("natsbus: disconnected: %v", err)
				}
			}),
			nats.ReconnectHandler(func(nc *nats.Conn) {
				logf("natsbus: connected to %s", nc.ConnectedUrlRedacted())
			}),
			nats.ConnectHandler(func(nc *nats.Conn) {
				logf("natsbus: connected to %s", nc.ConnectedUrlRedacted())
			}),
			nats.ErrorHandler(func(nc *nats.Conn, sub *nats.Subscription, err error) {
				logf("natsbus: %v", err)
			}),
		)
	}
	return opts, nil
}
