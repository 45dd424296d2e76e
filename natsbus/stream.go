package natsbus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// StreamOptions describe the JetStream stream that stores a tap's events.
type StreamOptions struct {
	Tap string
	// Name of the stream; default StreamName(Tap).
	Name string
	// MaxBytes caps the stream; the oldest events go first. Default 256 MiB.
	MaxBytes int64
	// MaxAge removes older events; 0: kept until MaxBytes pushes them out.
	MaxAge time.Duration
	// Duplicates is the Nats-Msg-Id window. Default 2 minutes.
	Duplicates time.Duration
	// Replicas for a clustered server; default 1.
	Replicas int
	// Own means the stream belongs to this tap (the embedded server): its
	// config is created or updated to match. Otherwise a stream that already
	// stores the tap's subjects is used as it is, and one is created only
	// when none does.
	Own bool
}

func (o *StreamOptions) config() jetstream.StreamConfig {
	if o.Name == "" {
		o.Name = StreamName(o.Tap)
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = 256 << 20
	}
	if o.Duplicates <= 0 {
		o.Duplicates = 2 * time.Minute
	}
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	return jetstream.StreamConfig{
		Name:        o.Name,
		Description: "ftptap events of tap " + o.Tap,
		Subjects:    []string{TapSubjects(o.Tap)},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxBytes:    o.MaxBytes,
		MaxAge:      o.MaxAge,
		Duplicates:  o.Duplicates,
		Replicas:    o.Replicas,
		// JSON events shrink to about a third: fewer bytes written to the
		// card and more history in the same space.
		Compression: jetstream.S2Compression,
		AllowDirect: true,
	}
}

// EnsureStream makes sure a JetStream stream stores the tap's subjects and
// returns its name.
func EnsureStream(ctx context.Context, nc *nats.Conn, o StreamOptions) (string, error) {
	if err := checkTap(o.Tap); err != nil {
		return "", err
	}
	cfg := o.config()
	js, err := jetstream.New(nc)
	if err != nil {
		return "", fmt.Errorf("natsbus: %w", err)
	}
	if o.Own {
		if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return "", fmt.Errorf("natsbus: stream %s: %w", cfg.Name, err)
		}
		return cfg.Name, nil
	}
	name, err := js.StreamNameBySubject(ctx, TapSubjects(o.Tap))
	if err == nil {
		return name, nil
	}
	if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return "", fmt.Errorf("natsbus: look up the stream of %s: %w", TapSubjects(o.Tap), err)
	}
	if _, err := js.CreateStream(ctx, cfg); err != nil {
		return "", fmt.Errorf("natsbus: create stream %s for %s: %w", cfg.Name, TapSubjects(o.Tap), err)
	}
	return cfg.Name, nil
}
