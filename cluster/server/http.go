package server

import (
	"encoding/json"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/distributedkv/dkv/cluster/kvpb"
)

// SuspectAfter is how long a node may go unheard before it is "suspect".
const SuspectAfter = 10 * time.Second

func (n *Node) httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", n.serveHealth)
	mux.HandleFunc("GET /api/v1/nodes", n.serveNodes)
	mux.HandleFunc("GET /api/v1/ranges", n.serveRanges)
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// serveHealth answers 200 while the node serves requests.
func (n *Node) serveHealth(w http.ResponseWriter, r *http.Request) {
	select {
	case <-n.serving:
	default:
		http.Error(w, "starting", http.StatusServiceUnavailable)
		return
	}
	if err := n.store.Err(); err != nil {
		http.Error(w, "stopped: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	select {
	case <-n.store.Done():
		http.Error(w, "stopping", http.StatusServiceUnavailable)
		return
	default:
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("ok\n"))
}

// NodeJSON is a node in GET /api/v1/nodes.
type NodeJSON struct {
	ID       uint64 `json:"id"`
	Addr     string `json:"addr"`
	HTTP     string `json:"http"`
	State    string `json:"state"`
	Ranges   int    `json:"ranges"`
	Leaders  int    `json:"leaders"`
	HeardAgo int64  `json:"heard_ago_ms"` // -1: not heard from since the answering node started
	// From the node's latest heartbeat to the placement group (0 before
	// its first).
	HeartbeatUnixMs int64 `json:"heartbeat_unix_ms"`
	CapacityBytes   int64 `json:"capacity_bytes"`
	AvailableBytes  int64 `json:"available_bytes"`
	UsedBytes       int64 `json:"used_bytes"`
}

// RangeJSON is a range in GET /api/v1/ranges.
type RangeJSON struct {
	ID           uint64        `json:"id"`
	StartKey     []byte        `json:"start_key"`
	EndKey       []byte        `json:"end_key"`
	Epoch        EpochJSON     `json:"epoch"`
	Replicas     []ReplicaJSON `json:"replicas"`
	LeaderNodeID uint64        `json:"leader_node_id"`
	ApproxBytes  int64         `json:"approx_bytes"`
	Keys         int64         `json:"keys"`
	Quiesced     bool          `json:"quiesced"` // idle on its leader: no ticks, no heartbeats
}

// EpochJSON is a range's epoch.
type EpochJSON struct {
	ConfVer uint64 `json:"conf_ver"`
	Version uint64 `json:"version"`
}

// ReplicaJSON is one replica of a range.
type ReplicaJSON struct {
	NodeID    uint64 `json:"node_id"`
	ReplicaID uint64 `json:"replica_id"`
	Role      string `json:"role"`
}

var roleNames = map[kvpb.ReplicaRole]string{
	kvpb.ReplicaRole_VOTER:          "voter",
	kvpb.ReplicaRole_LEARNER:        "learner",
	kvpb.ReplicaRole_VOTER_INCOMING: "voter_incoming",
	kvpb.ReplicaRole_VOTER_DEMOTING: "voter_demoting",
}

func (n *Node) serveNodes(w http.ResponseWriter, r *http.Request) {
	st, err := n.clusterView(r.Context())
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	heard := map[uint64]int64{}
	for _, l := range st.GetLiveness() {
		heard[l.GetNodeId()] = l.GetHeardAgoMs()
	}
	out := []NodeJSON{}
	for _, nd := range st.GetNodes() {
		j := NodeJSON{ID: nd.GetNodeId(), Addr: nd.GetAddr(), HTTP: nd.GetHttpAddr(), HeardAgo: -1,
			HeartbeatUnixMs: nd.GetHeartbeatUnixMs(), CapacityBytes: nd.GetCapacityBytes(),
			AvailableBytes: nd.GetAvailableBytes(), UsedBytes: nd.GetUsedBytes()}
		if h, ok := heard[nd.GetNodeId()]; ok {
			j.HeardAgo = h
		}
		j.State = n.liveness(nd, j.HeardAgo)
		for _, rs := range st.GetRanges() {
			if rs.GetRange().GetPlacement() {
				continue
			}
			for _, rd := range rs.GetRange().GetReplicas() {
				if rd.GetNodeId() == nd.GetNodeId() {
					j.Ranges++
				}
			}
			if rs.GetLeaderNodeId() == nd.GetNodeId() {
				j.Leaders++
			}
		}
		out = append(out, j)
	}
	writeJSON(w, out)
}

// liveness names a node's state from how long ago it was heard.
func (n *Node) liveness(nd *kvpb.NodeRecord, heardAgoMs int64) string {
	switch nd.GetState() {
	case kvpb.NodeState_NODE_DECOMMISSIONING:
		return "decommissioning"
	case kvpb.NodeState_NODE_REMOVED:
		return "removed"
	}
	switch ago := time.Duration(heardAgoMs) * time.Millisecond; {
	case heardAgoMs < 0:
		if time.Since(n.started) > n.cfg.DownAfter {
			return "dead"
		}
		return "suspect"
	case ago <= SuspectAfter:
		return "live"
	case ago <= n.cfg.DownAfter:
		return "suspect"
	}
	return "dead"
}

// serveRanges lists the ranges that hold user keys (the placement group
// is not among them), in key order: together they tile the key space.
func (n *Node) serveRanges(w http.ResponseWriter, r *http.Request) {
	st, err := n.clusterView(r.Context())
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	out := []RangeJSON{}
	for _, rs := range st.GetRanges() {
		d := rs.GetRange()
		if d.GetPlacement() {
			continue
		}
		j := RangeJSON{
			ID: d.GetRangeId(), StartKey: nonNil(d.GetStartKey()), EndKey: nonNil(d.GetEndKey()),
			Epoch:        EpochJSON{ConfVer: d.GetEpoch().GetConfVer(), Version: d.GetEpoch().GetVersion()},
			LeaderNodeID: rs.GetLeaderNodeId(), ApproxBytes: rs.GetApproxBytes(), Keys: rs.GetKeys(),
			Quiesced: rs.GetLeaderNodeId() != 0 && rs.GetLocal().GetQuiesced(), Replicas: []ReplicaJSON{},
		}
		for _, rd := range d.GetReplicas() {
			j.Replicas = append(j.Replicas, ReplicaJSON{NodeID: rd.GetNodeId(), ReplicaID: rd.GetReplicaId(), Role: roleNames[rd.GetRole()]})
		}
		out = append(out, j)
	}
	writeJSON(w, out)
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
