// Package broker runs an embedded, in-process Kafka-protocol broker
// (franz-go's kfake) on a real TCP port, so that any Kafka client can talk to
// it. It is Dowser's default when no external brokers are configured, and the
// broker of the tests.
//
// It is the only package that imports github.com/twmb/franz-go.
// It imports no other Dowser package.
package broker

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"strings"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Config configures the embedded broker.
type Config struct {
	// Addr is the host:port to listen on; port 0 picks a free one.
	Addr string
	// Dir is where topics, offsets and groups persist across restarts;
	// empty keeps everything in memory.
	Dir string
	// Partitions is the partition count of topics created automatically.
	Partitions int
	// Logger receives the broker's start-up line; nil discards it.
	Logger *slog.Logger
	// TLS, when set, makes the broker accept TLS connections only (tests
	// of clusters that ask for it).
	TLS *tls.Config
	// Users, when there are any, turn SASL on: a client must sign in as
	// one of them (tests of clusters that ask for credentials).
	Users []User
}

// User is a SASL user of the broker.
type User struct {
	// Mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
	Mechanism, Name, Password string
	// Grants, when not nil, are all this user may do: ACLs are then
	// checked, and a user with nil Grants may do anything.
	Grants []Grant
}

// Grant allows a user one operation on a resource.
type Grant struct {
	// Resource is "topic", "group" or "cluster".
	Resource string
	// Name is the topic's or group's name, "kafka-cluster" for the cluster.
	Name string
	// Operation is "read", "write", "create", "describe",
	// "describeconfigs" or "all".
	Operation string
}

func (g Grant) acl() (kfake.ACL, error) {
	res := map[string]kmsg.ACLResourceType{"topic": kmsg.ACLResourceTypeTopic, "group": kmsg.ACLResourceTypeGroup, "cluster": kmsg.ACLResourceTypeCluster}[g.Resource]
	op := map[string]kmsg.ACLOperation{
		"read": kmsg.ACLOperationRead, "write": kmsg.ACLOperationWrite, "create": kmsg.ACLOperationCreate,
		"describe": kmsg.ACLOperationDescribe, "describeconfigs": kmsg.ACLOperationDescribeConfigs, "all": kmsg.ACLOperationAll,
	}[g.Operation]
	if res == 0 || op == 0 {
		return kfake.ACL{}, fmt.Errorf("grant %s %s on %s: unknown resource or operation", g.Operation, g.Name, g.Resource)
	}
	return kfake.ACL{Resource: res, Name: g.Name, Pattern: kmsg.ACLResourcePatternTypeLiteral, Operation: op, Allow: true}, nil
}

// Broker is a running embedded broker.
type Broker struct {
	cluster *kfake.Cluster
	addr    string
}

// Start listens on cfg.Addr and serves the Kafka protocol until Close.
func Start(cfg Config) (*Broker, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:9092"
	}
	if cfg.Partitions <= 0 {
		cfg.Partitions = 6
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(cfg.Partitions),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			ln, err := net.Listen(network, cfg.Addr)
			if err != nil {
				return nil, fmt.Errorf("listening on %s: %w", cfg.Addr, err)
			}
			return ln, nil
		}),
	}
	if cfg.Dir != "" {
		opts = append(opts, kfake.DataDir(cfg.Dir))
	}
	if cfg.TLS != nil {
		opts = append(opts, kfake.TLS(cfg.TLS))
	}
	if len(cfg.Users) > 0 {
		opts = append(opts, kfake.EnableSASL())
		for _, u := range cfg.Users {
			if u.Grants == nil {
				opts = append(opts, kfake.Superuser(u.Mechanism, u.Name, u.Password))
				continue
			}
			acls := make([]kfake.ACL, len(u.Grants))
			for i, g := range u.Grants {
				var err error
				if acls[i], err = g.acl(); err != nil {
					return nil, err
				}
			}
			opts = append(opts, kfake.EnableACLs(), kfake.User(u.Mechanism, u.Name, u.Password, acls...))
		}
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		return nil, fmt.Errorf("starting embedded kafka broker: %w", err)
	}
	b := &Broker{cluster: c, addr: c.ListenAddrs()[0]}
	if cfg.Dir != "" {
		log.Info("embedded kafka broker listening", "addr", b.addr, "dir", cfg.Dir)
	} else {
		log.Warn("embedded kafka broker listening; in memory only, topics are lost on exit (set --embedded-kafka-dir to keep them)", "addr", b.addr)
	}
	return b, nil
}

// Addr is the host:port clients connect to.
func (b *Broker) Addr() string { return b.addr }

// Brokers is Addr as a bootstrap list.
func (b *Broker) Brokers() []string { return strings.Split(b.addr, ",") }

// OnSASLAuthenticate calls fn on each SASL authentication a client
// attempts, before the broker answers it (tests count them).
func (b *Broker) OnSASLAuthenticate(fn func()) {
	b.cluster.ControlKey(int16(kmsg.SASLAuthenticate), func(kmsg.Request) (kmsg.Response, error, bool) {
		fn()
		return nil, nil, false
	})
}

// Close stops the broker, flushing persisted state.
func (b *Broker) Close() { b.cluster.Close() }
