package main

import (
	"context"
	"net"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/distributedkv/dkv/client"
	"github.com/distributedkv/dkv/cluster/keys"
)

// endpointsEnv names the environment variable that stands for
// --endpoints when the flag is not given.
const endpointsEnv = "DKV_ENDPOINTS"

// defaultTimeout is --timeout's default.
const defaultTimeout = 10 * time.Second

// remote holds the flags of a data command (get, put, del, cas, scan) that
// make it talk to a cluster instead of opening --dir.
type remote struct {
	endpoints string
	timeout   time.Duration
	certsDir  string
	user      string
}

// remoteHelp is the paragraphs a data command adds to its help: %[1]s is
// the command's name, %[2]s a paragraph on what it does on a cluster.
const remoteHelp = `

With --endpoints H:P[,H:P...] (or, without the flag, the environment
variable DKV_ENDPOINTS), %[1]s talks to a cluster through any of those
nodes instead of opening --dir, which it then refuses (exit 2). The whole
command takes at most --timeout (10s by default); a node that is down or
not the leader is skipped. With --certs-dir DIR, it connects with TLS as
--user (root by default), presenting DIR/client.USER.crt and checking the
nodes against DIR/ca.crt. Keys are at most 4 KiB on a cluster, values at
most 1 MiB.

%[2]s`

// writeHelp is the cluster paragraph of put and del.
const writeHelp = `On a cluster, the write is acknowledged once a quorum of the key's
replicas hold it durably. A write whose answer is lost (a deadline, a
node that failed or lost its leadership with the write in flight) exits
1 saying that it may or may not have been applied; it is never retried
behind your back.`

// addRemoteFlags adds the cluster flags to a data command.
func addRemoteFlags(cmd *cobra.Command) *remote {
	r := &remote{}
	f := cmd.Flags()
	f.StringVar(&r.endpoints, "endpoints", "", "talk to the cluster at `H:P[,H:P...]` instead of --dir (default $"+endpointsEnv+")")
	f.DurationVar(&r.timeout, "timeout", defaultTimeout, "with --endpoints: give up after `D`")
	f.StringVar(&r.certsDir, "certs-dir", "", "with --endpoints: connect with TLS, with the certificates in `DIR`")
	f.StringVar(&r.user, "user", "root", "with --certs-dir: present client.`USER`.crt")
	return r
}

// list returns the cluster's endpoints, or nil when the command is to run
// on --dir: neither --endpoints nor DKV_ENDPOINTS names any. A bad
// combination of flags is a usage error.
func (r *remote) list(cmd *cobra.Command) ([]string, error) {
	flags := cmd.Flags()
	s, from := r.endpoints, "--endpoints"
	if !flags.Changed("endpoints") {
		s, from = os.Getenv(endpointsEnv), endpointsEnv
	}
	if !flags.Changed("endpoints") && strings.TrimSpace(s) == "" {
		for _, name := range []string{"timeout", "certs-dir", "user"} {
			if flags.Changed(name) {
				return nil, usageError("--%s goes with --endpoints (or %s)", name, endpointsEnv)
			}
		}
		return nil, nil
	}
	if flags.Changed("dir") {
		return nil, usageError("--dir does not go with %s: a command works on a database directory or on a cluster", from)
	}
	var eps []string
	for e := range strings.SplitSeq(s, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if host, port, err := net.SplitHostPort(e); err != nil || host == "" || port == "" {
			return nil, usageError("%s: %q is not HOST:PORT", from, e)
		}
		eps = append(eps, e)
	}
	if len(eps) == 0 {
		return nil, usageError("%s names no endpoint", from)
	}
	if r.timeout <= 0 {
		return nil, usageError("--timeout must be positive, got %v", r.timeout)
	}
	if flags.Changed("user") && r.certsDir == "" {
		return nil, usageError("--user goes with --certs-dir")
	}
	return eps, nil
}

// run connects to the cluster at eps and calls fn with the client and a
// context that ends after --timeout (or when the command's does).
func (r *remote) run(cmd *cobra.Command, eps []string, fn func(ctx context.Context, c *client.Client) error) error {
	cfg := client.Config{
		Endpoints:      eps,
		DialTimeout:    min(r.timeout, client.DefaultDialTimeout),
		RequestTimeout: r.timeout,
	}
	if r.certsDir != "" {
		tc, err := client.LoadTLS(r.certsDir, r.user)
		if err != nil {
			return err
		}
		cfg.TLS = tc
	}
	c, err := client.New(cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(cmd.Context(), r.timeout)
	defer cancel()
	return fn(ctx, c)
}

// noExplain refuses --explain on a cluster: it shows the local engine's
// path.
func noExplain(explain bool) error {
	if explain {
		return usageError("--explain shows a local database's read and write path: it does not go with --endpoints")
	}
	return nil
}

// checkRemote refuses, as a usage error worded as the engine's, a key
// or values a cluster cannot store (a nil value is none).
func checkRemote(key []byte, values ...[]byte) error {
	if err := keys.CheckUserKey(key); err != nil {
		return usageError("invalid argument: %v", err)
	}
	for _, v := range values {
		if err := keys.CheckValue(v); err != nil {
			return usageError("invalid argument: %v", err)
		}
	}
	return nil
}
