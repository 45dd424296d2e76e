package natsbus

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
)

// The users of the embedded server. The in-process connection of ftptap
// itself logs in as internalUser with a password drawn at each start, which
// never leaves the process. A client without credentials becomes
// anonymousUser, whose password is drawn too, so no one logs in as it by
// name.
const (
	internalUser  = "ftptap"
	anonymousUser = "anonymous"
)

// ReadOnlyPermissions are what a client without credentials may do on the
// embedded server: subscribe to the events (ftptap.>) and read the stream
// through the JetStream API — stream and consumer info and lists, creating
// a consumer, fetching from it, acknowledging, direct and stored message
// gets — with replies on _INBOX. Everything else is refused with a
// permissions violation: publishing, purging, deleting streams, consumers
// or messages, editing a stream, snapshots and restores.
//
// A client that names the tap's domain (jetstream.NewWithDomain, nats
// --js-domain) sends to $JS.<domain>.API.…; the server maps that to
// $JS.API.… before it checks permissions. Other domains (a hub behind a
// leaf connection) are out of reach.
func ReadOnlyPermissions() *server.Permissions {
	api := []string{
		"INFO",
		"STREAM.NAMES", "STREAM.LIST", "STREAM.INFO.*",
		"STREAM.MSG.GET.*", "DIRECT.GET.>",
		"CONSUMER.CREATE.>",
		"CONSUMER.NAMES.*", "CONSUMER.LIST.*", "CONSUMER.INFO.*.*",
		"CONSUMER.MSG.NEXT.*.*",
	}
	var pub []string
	for _, a := range api {
		pub = append(pub, "$JS.API."+a)
	}
	// Acknowledgements and flow-control replies of the consumers a reader
	// made go to these subjects.
	pub = append(pub, "$JS.ACK.>", "$JS.FC.>")
	return &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: pub},
		Subscribe: &server.SubjectPermission{Allow: []string{"ftptap.>", "_INBOX.>"}},
	}
}

// configureAuth sets the users of the embedded server in opts and returns
// the password of the in-process user.
func configureAuth(opts *server.Options, o ServerOptions) (string, error) {
	secret, err := randomSecret()
	if err != nil {
		return "", err
	}
	users := []*server.User{{Username: internalUser, Password: secret}}
	a := o.Admin
	if a.Password != "" && a.User == "" {
		return "", errors.New("natsbus: server: admin password without an admin user")
	}
	if a.User != "" {
		if a.Password == "" {
			return "", fmt.Errorf("natsbus: server: admin user %q has no password", a.User)
		}
		if a.User == internalUser || a.User == anonymousUser {
			return "", fmt.Errorf("natsbus: server: admin user %q: the name is taken, choose another", a.User)
		}
		users = append(users, &server.User{Username: a.User, Password: a.Password})
	}
	if a.NKey != "" {
		if !nkeys.IsValidPublicUserKey(a.NKey) {
			return "", fmt.Errorf("natsbus: server: admin nkey %q: not a user's public NKey (U...)", a.NKey)
		}
		opts.Nkeys = []*server.NkeyUser{{Nkey: a.NKey}}
	}
	switch {
	case o.Token != "" && a.Token != "" && o.Token != a.Token:
		return "", errors.New("natsbus: server: a token for every client and an admin token: set one")
	case o.Token != "":
		opts.Authorization = o.Token
	case a.Token != "":
		opts.Authorization = a.Token
	}
	if o.Token == "" && !o.NoAnonymous {
		anon, err := randomSecret()
		if err != nil {
			return "", err
		}
		users = append(users, &server.User{Username: anonymousUser, Password: anon, Permissions: ReadOnlyPermissions()})
		opts.NoAuthUser = anonymousUser
	}
	opts.Users = users
	return secret, nil
}

func randomSecret() (string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("natsbus: server: random secret: %w", err)
	}
	return hex.EncodeToString(b), nil
}
