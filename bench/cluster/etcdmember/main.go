// Command etcdmember runs one member of an etcd cluster through etcd's
// embed package, for the cluster benchmark (../), which builds it and
// starts three of them, each its own process like dkv's nodes.
//
//	etcdmember -name e1 -data-dir DIR -client-url http://127.0.0.1:PORT \
//	    -peer-url http://127.0.0.1:PORT -initial-cluster e1=http://...,e2=...,e3=...
//
// Everything but the names, URLs, directory and log level is
// embed.NewConfig's default, which is etcd's as it ships: every write
// fsynced (the WAL, before a write is acknowledged), the default backend
// quota (2 GiB), snapshot count (10,000) and no auto-compaction. It
// listens only on the loopback URLs it is given, and on SIGTERM or SIGINT
// it closes the server (etcd's own drain) and exits with status 0.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

func main() {
	cfg, wait, err := parse(os.Args[1:], os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "etcdmember:", err)
		os.Exit(2)
	}
	if err := run(cfg, wait); err != nil {
		fmt.Fprintln(os.Stderr, "etcdmember:", err)
		os.Exit(1)
	}
}

// parse turns the command line into the member's embed.Config and how
// long to wait for it to join its cluster.
func parse(args []string, stderr io.Writer) (*embed.Config, time.Duration, error) {
	fs := flag.NewFlagSet("etcdmember", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "", "member name, as in -initial-cluster")
	dir := fs.String("data-dir", "", "data directory")
	clientURL := fs.String("client-url", "", "URL to listen on and advertise for clients (http://127.0.0.1:PORT)")
	peerURL := fs.String("peer-url", "", "URL to listen on and advertise for peers (http://127.0.0.1:PORT)")
	initial := fs.String("initial-cluster", "", "every member: NAME=PEER-URL,...")
	token := fs.String("initial-cluster-token", "dkv-bench", "the cluster's bootstrap token")
	logLevel := fs.String("log-level", "warn", "debug, info, warn, error, panic or fatal (logs go to stderr)")
	wait := fs.Duration("start-timeout", time.Minute, "longest wait for the member to join its cluster")
	if err := fs.Parse(args); err != nil {
		return nil, 0, err
	}
	if fs.NArg() > 0 {
		return nil, 0, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *name == "" || *dir == "" || *initial == "" {
		return nil, 0, errors.New("-name, -data-dir and -initial-cluster are required")
	}
	cu, err := loopbackURL("-client-url", *clientURL)
	if err != nil {
		return nil, 0, err
	}
	pu, err := loopbackURL("-peer-url", *peerURL)
	if err != nil {
		return nil, 0, err
	}
	cfg := embed.NewConfig()
	cfg.Name = *name
	cfg.Dir = *dir
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{*cu}, []url.URL{*cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{*pu}, []url.URL{*pu}
	cfg.InitialCluster = *initial
	cfg.InitialClusterToken = *token
	cfg.ClusterState = embed.ClusterStateFlagNew
	cfg.LogLevel = *logLevel
	cfg.LogOutputs = []string{"stderr"}
	return cfg, *wait, nil
}

// loopbackURL parses an http URL whose host is a loopback IP address and
// port: the member listens on nothing else.
func loopbackURL(flagName, s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%s %q: %w", flagName, s, err)
	}
	host, _, err := net.SplitHostPort(u.Host)
	if ip := net.ParseIP(host); u.Scheme != "http" || err != nil || ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("%s %q: want http://127.0.0.1:PORT (loopback only)", flagName, s)
	}
	return u, nil
}

// run starts the member, waits until it has joined its cluster, then
// serves until SIGTERM or SIGINT, when it closes the server and returns
// nil, or until the server fails.
func run(cfg *embed.Config, wait time.Duration) error {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return err
	}
	defer e.Close()
	select {
	case <-e.Server.ReadyNotify():
		fmt.Fprintf(os.Stderr, "etcdmember: %s ready, clients on %s\n", cfg.Name, cfg.ListenClientUrls[0].String())
	case s := <-sig:
		fmt.Fprintf(os.Stderr, "etcdmember: %s: %v before ready; closing\n", cfg.Name, s)
		return nil
	case err := <-e.Err():
		return err
	case <-time.After(wait):
		return fmt.Errorf("%s not ready after %v", cfg.Name, wait)
	}
	select {
	case s := <-sig:
		fmt.Fprintf(os.Stderr, "etcdmember: %s: %v; closing\n", cfg.Name, s)
		return nil
	case err := <-e.Err():
		return err
	}
}
