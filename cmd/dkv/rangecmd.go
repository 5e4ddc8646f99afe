package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/distributedkv/dkv/client"
	"github.com/distributedkv/dkv/cluster/kvpb"
)

// newRangeCmd is `dkv range list|show|split`: a cluster's ranges, through
// the Admin service of any node in --endpoints.
func newRangeCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "range list|show ID|split ID [--key K] --endpoints H:P[,...]",
		Short: "List, show and split a cluster's ranges",
		Long: `A cluster cuts its key space into ranges, each replicated by its own Raft
group (docs/ranges.md). These commands ask any node of --endpoints (or
DKV_ENDPOINTS), which gathers what every node reports.

  dkv range list           every range that holds user keys, in key order:
                           ID, bounds, epoch, leader, replicas, size
  dkv range show ID        one range
  dkv range split ID       split range ID at --key K (default: the key that
                           halves its bytes); prints both halves

Bounds are [start, end): the start is in the range, the end is not; an
empty bound is the start or the end of the key space. With -o json, list
prints {"ranges": [...]}, show {"range": {...}} and split {"left": {...},
"right": {...}}, each range with "id", "start_key", "end_key", "epoch"
{"conf_ver", "version"}, "leader_node_id", "replicas" [{"node_id",
"replica_id", "role"}], "approx_bytes" and "keys".`,
	}
	cmd.AddCommand(newRangeListCmd(g), newRangeShowCmd(g), newRangeSplitCmd(g))
	return cmd
}

func newRangeListCmd(g *globals) *cobra.Command {
	var r *remote
	cmd := &cobra.Command{
		Use:   "list --endpoints H:P[,...]",
		Short: "List the ranges that hold user keys",
		Args:  exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			return r.admin(cmd, func(ctx context.Context, a *adminConn) error {
				st, err := a.status(ctx)
				if err != nil {
					return err
				}
				var out []rangeDoc
				for _, rs := range st.GetRanges() {
					if !rs.GetRange().GetPlacement() {
						out = append(out, g.rangeDoc(rs))
					}
				}
				if g.json() {
					return g.writeJSON(cmd.OutOrStdout(), map[string]any{"ranges": nonNilSlice(out)})
				}
				return g.printRanges(cmd.OutOrStdout(), out)
			})
		},
	}
	r = addAdminFlags(cmd)
	return cmd
}

func newRangeShowCmd(g *globals) *cobra.Command {
	var r *remote
	cmd := &cobra.Command{
		Use:   "show ID --endpoints H:P[,...]",
		Short: "Show one range",
		Args:  exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := rangeIDArg(args[0])
			if err != nil {
				return err
			}
			return r.admin(cmd, func(ctx context.Context, a *adminConn) error {
				st, err := a.status(ctx)
				if err != nil {
					return err
				}
				for _, rs := range st.GetRanges() {
					if rs.GetRange().GetRangeId() == id {
						d := g.rangeDoc(rs)
						if g.json() {
							return g.writeJSON(cmd.OutOrStdout(), map[string]any{"range": d})
						}
						return g.printRanges(cmd.OutOrStdout(), []rangeDoc{d})
					}
				}
				return &codeError{code: exitNotFound, err: fmt.Errorf("range %d not found", id)}
			})
		},
	}
	r = addAdminFlags(cmd)
	return cmd
}

func newRangeSplitCmd(g *globals) *cobra.Command {
	var (
		r   *remote
		key string
	)
	cmd := &cobra.Command{
		Use:   "split ID [--key K] --endpoints H:P[,...]",
		Short: "Split a range in two",
		Long: `Split range ID at key K: the range keeps the keys before K, a new range
takes K and the keys after it, with the same replicas. K must lie strictly
inside the range. Without --key, the range's leader picks the key that
halves its bytes (a range with fewer than two keys cannot be split: exit
1). A split is one Raft command: it applies on every replica at once, and
requests routed to the old range are sent on to the right one.`,
		Args: exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := rangeIDArg(args[0])
			if err != nil {
				return err
			}
			var k []byte
			if cmd.Flags().Changed("key") {
				if k, err = g.arg("--key", key); err != nil {
					return err
				}
				if len(k) == 0 {
					return usageError("--key is empty: the empty key starts the key space and cannot split it")
				}
				if err := checkRemote(k); err != nil {
					return err
				}
			}
			return r.admin(cmd, func(ctx context.Context, a *adminConn) error {
				left, right, err := a.split(ctx, id, k)
				if err != nil {
					return err
				}
				l, rr := g.rangeDoc(&kvpb.RangeStatus{Range: left}), g.rangeDoc(&kvpb.RangeStatus{Range: right})
				if g.json() {
					return g.writeJSON(cmd.OutOrStdout(), map[string]any{"left": l, "right": rr})
				}
				return g.printRanges(cmd.OutOrStdout(), []rangeDoc{l, rr})
			})
		},
	}
	r = addAdminFlags(cmd)
	cmd.Flags().StringVar(&key, "key", "", "split at `K` (default: the key that halves the range's bytes)")
	return cmd
}

func rangeIDArg(s string) (uint64, error) {
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil || id == 0 {
		return 0, usageError("range ID %q is not a positive integer", s)
	}
	return id, nil
}

// addAdminFlags adds the cluster flags; unlike a data command's, they are
// required (there is no --dir form).
func addAdminFlags(cmd *cobra.Command) *remote {
	r := addRemoteFlags(cmd)
	cmd.Long += `

--endpoints H:P[,H:P...] (or DKV_ENDPOINTS) names nodes to ask; the first
that answers is used. The command takes at most --timeout (10s by
default). With --certs-dir DIR it connects with TLS as --user.`
	return r
}

// adminConn is a connection to one node's Admin service.
type adminConn struct {
	cc   *grpc.ClientConn
	addr string
	dial func(addr string) (*grpc.ClientConn, error)
}

// admin runs fn against the Admin service of the first endpoint that
// answers a status request.
func (r *remote) admin(cmd *cobra.Command, fn func(ctx context.Context, a *adminConn) error) error {
	eps, err := r.list(cmd)
	if err != nil {
		return err
	}
	if eps == nil {
		return usageError("range commands talk to a cluster: give --endpoints or set %s", endpointsEnv)
	}
	creds := insecure.NewCredentials()
	if r.certsDir != "" {
		tc, err := client.LoadTLS(r.certsDir, r.user)
		if err != nil {
			return err
		}
		creds = credentials.NewTLS(tc)
	}
	dial := func(addr string) (*grpc.ClientConn, error) {
		return grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), r.timeout)
	defer cancel()
	var last error
	for _, ep := range eps {
		cc, err := dial(ep)
		if err != nil {
			last = err
			continue
		}
		a := &adminConn{cc: cc, addr: ep, dial: dial}
		// One quick question first: a node that is down is skipped.
		qctx, qcancel := context.WithTimeout(ctx, min(r.timeout/2, client.DefaultDialTimeout))
		_, err = kvpb.NewAdminClient(cc).ClusterStatus(qctx, &kvpb.ClusterStatusRequest{})
		qcancel()
		if err != nil {
			_ = cc.Close()
			last = fmt.Errorf("%s: %w", ep, err)
			continue
		}
		defer cc.Close()
		return fn(ctx, a)
	}
	return fmt.Errorf("no endpoint answered: %w", last)
}

func (a *adminConn) status(ctx context.Context) (*kvpb.ClusterStatusResponse, error) {
	return kvpb.NewAdminClient(a.cc).ClusterStatus(ctx, &kvpb.ClusterStatusRequest{Cluster: true})
}

// split sends the split to the range's leader, following NotLeader hints.
func (a *adminConn) split(ctx context.Context, id uint64, key []byte) (left, right *kvpb.RangeDescriptor, err error) {
	st, err := a.status(ctx)
	if err != nil {
		return nil, nil, err
	}
	addrs := map[uint64]string{}
	for _, n := range st.GetNodes() {
		addrs[n.GetNodeId()] = n.GetAddr()
	}
	target := a.addr
	found := false
	for _, rs := range st.GetRanges() {
		if rs.GetRange().GetRangeId() == id {
			found = true
			if addr, ok := addrs[rs.GetLeaderNodeId()]; ok {
				target = addr
			}
		}
	}
	if !found {
		return nil, nil, &codeError{code: exitNotFound, err: fmt.Errorf("range %d not found", id)}
	}
	for range 5 {
		cc, err := a.dial(target)
		if err != nil {
			return nil, nil, err
		}
		resp, err := kvpb.NewAdminClient(cc).Split(ctx, &kvpb.SplitRequest{Header: &kvpb.RequestHeader{RangeId: id}, SplitKey: key})
		_ = cc.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("split range %d: %s: %w", id, target, err)
		}
		e := resp.GetHeader().GetError()
		if e == nil {
			return resp.GetLeft(), resp.GetRight(), nil
		}
		if hint := e.GetNotLeader().GetLeaderAddr(); hint != "" && hint != target {
			target = hint
			continue
		}
		return nil, nil, fmt.Errorf("split range %d: %s: %s", id, target, e.GetMessage())
	}
	return nil, nil, errors.New("split: the range's leader kept moving; try again")
}

// rangeDoc is a range as the range commands print it.
type rangeDoc struct {
	ID           uint64       `json:"id"`
	StartKey     string       `json:"start_key"`
	EndKey       string       `json:"end_key"`
	Epoch        epochDoc     `json:"epoch"`
	LeaderNodeID uint64       `json:"leader_node_id"`
	Replicas     []replicaDoc `json:"replicas"`
	ApproxBytes  int64        `json:"approx_bytes"`
	Keys         int64        `json:"keys"`
}

type epochDoc struct {
	ConfVer uint64 `json:"conf_ver"`
	Version uint64 `json:"version"`
}

type replicaDoc struct {
	NodeID    uint64 `json:"node_id"`
	ReplicaID uint64 `json:"replica_id"`
	Role      string `json:"role"`
}

func (g *globals) rangeDoc(rs *kvpb.RangeStatus) rangeDoc {
	d := rs.GetRange()
	doc := rangeDoc{
		ID: d.GetRangeId(), StartKey: g.bytes(d.GetStartKey()), EndKey: g.bytes(d.GetEndKey()),
		Epoch:        epochDoc{ConfVer: d.GetEpoch().GetConfVer(), Version: d.GetEpoch().GetVersion()},
		LeaderNodeID: rs.GetLeaderNodeId(), ApproxBytes: rs.GetApproxBytes(), Keys: rs.GetKeys(),
		Replicas: []replicaDoc{},
	}
	for _, rd := range d.GetReplicas() {
		role := strings.ToLower(rd.GetRole().String())
		doc.Replicas = append(doc.Replicas, replicaDoc{NodeID: rd.GetNodeId(), ReplicaID: rd.GetReplicaId(), Role: role})
	}
	return doc
}

func (g *globals) printRanges(w io.Writer, rs []rangeDoc) error {
	tw := newTable(w)
	fmt.Fprintln(tw, "ID\tSTART\tEND\tEPOCH\tLEADER\tREPLICAS\tBYTES\tKEYS")
	for _, r := range rs {
		var reps []string
		for _, rd := range r.Replicas {
			s := fmt.Sprintf("n%d", rd.NodeID)
			if rd.Role != "voter" {
				s += "(" + rd.Role + ")"
			}
			reps = append(reps, s)
		}
		start, end := r.StartKey, r.EndKey
		if start == "" {
			start = "-∞"
		}
		if end == "" {
			end = "+∞"
		}
		leader := "-"
		if r.LeaderNodeID != 0 {
			leader = fmt.Sprintf("n%d", r.LeaderNodeID)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d/%d\t%s\t%s\t%d\t%d\n", r.ID, start, end, r.Epoch.ConfVer, r.Epoch.Version,
			leader, strings.Join(reps, ","), r.ApproxBytes, r.Keys)
	}
	return tw.Flush()
}

func nonNilSlice[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
