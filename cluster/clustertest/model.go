package clustertest

import (
	"fmt"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// OpKind is the kind of a recorded client operation.
type OpKind int

// The operations the model knows.
const (
	OpGet OpKind = iota
	OpPut
	OpDelete
	OpCAS
)

// Input is a recorded operation's request. For OpCAS, Old nil means
// "absent" and New nil means "delete".
type Input struct {
	Kind  OpKind
	Key   string
	Value string  // OpPut
	Old   *string // OpCAS
	New   *string // OpCAS
}

// Output is a recorded operation's response. Unknown marks an ambiguous
// write: it may or may not have happened; its Return is the end of the
// history.
type Output struct {
	Found   bool   // OpGet
	Value   string // OpGet
	Swapped bool   // OpCAS
	Unknown bool
}

// kvState is one key's value in the model; Present false is absent.
type kvState struct {
	Present bool
	Value   string
}

// KVModel is the sequential specification of one key of the store, for
// porcupine, partitioned by key.
var KVModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byKey := map[string][]porcupine.Operation{}
		for _, op := range history {
			k := op.Input.(Input).Key
			byKey[k] = append(byKey[k], op)
		}
		keys := make([]string, 0, len(byKey))
		for k := range byKey {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out := make([][]porcupine.Operation, 0, len(keys))
		for _, k := range keys {
			out = append(out, byKey[k])
		}
		return out
	},
	Init: func() any { return kvState{} },
	Step: func(state, input, output any) (bool, any) {
		s, in, out := state.(kvState), input.(Input), output.(Output)
		switch in.Kind {
		case OpGet:
			if out.Unknown {
				return true, s
			}
			return out.Found == s.Present && (!s.Present || out.Value == s.Value), s
		case OpPut:
			return true, kvState{Present: true, Value: in.Value}
		case OpDelete:
			return true, kvState{}
		case OpCAS:
			match := (in.Old == nil && !s.Present) || (in.Old != nil && s.Present && *in.Old == s.Value)
			if !out.Unknown && out.Swapped != match {
				return false, s
			}
			if !match {
				return true, s
			}
			if in.New == nil {
				return true, kvState{}
			}
			return true, kvState{Present: true, Value: *in.New}
		}
		return false, s
	},
	DescribeOperation: func(input, output any) string {
		in, out := input.(Input), output.(Output)
		res := ""
		if out.Unknown {
			res = " -> ?"
		}
		switch in.Kind {
		case OpGet:
			if out.Unknown {
				return fmt.Sprintf("get(%s) -> ?", in.Key)
			}
			if !out.Found {
				return fmt.Sprintf("get(%s) -> absent", in.Key)
			}
			return fmt.Sprintf("get(%s) -> %q", in.Key, out.Value)
		case OpPut:
			return fmt.Sprintf("put(%s, %q)%s", in.Key, in.Value, res)
		case OpDelete:
			return fmt.Sprintf("delete(%s)%s", in.Key, res)
		case OpCAS:
			if !out.Unknown {
				res = fmt.Sprintf(" -> %v", out.Swapped)
			}
			return fmt.Sprintf("cas(%s, %s, %s)%s", in.Key, strOrNil(in.Old), strOrNil(in.New), res)
		}
		return "?"
	},
	DescribeState: func(state any) string {
		s := state.(kvState)
		if !s.Present {
			return "absent"
		}
		return fmt.Sprintf("%q", s.Value)
	},
}

func strOrNil(s *string) string {
	if s == nil {
		return "nil"
	}
	return fmt.Sprintf("%q", *s)
}

// History records client operations for the linearizability check. Times
// are whatever clock the test uses (simulation steps, or nanoseconds);
// they must be monotonic.
type History struct {
	mu  sync.Mutex
	ops []porcupine.Operation
	now func() int64
}

// NewHistory returns a History whose times come from now.
func NewHistory(now func() int64) *History {
	return &History{now: now}
}

// NewRealTimeHistory returns a History timed by the monotonic clock.
func NewRealTimeHistory() *History {
	start := time.Now()
	return NewHistory(func() int64 { return int64(time.Since(start)) })
}

// Call marks an operation's start; finish it with Return, ReturnUnknown or
// Drop (an operation that certainly had no effect, e.g. a failed read).
func (h *History) Call(client int, in Input) *PendingOp {
	return &PendingOp{h: h, client: client, in: in, call: h.now()}
}

// PendingOp is an operation between its call and its return.
type PendingOp struct {
	h      *History
	client int
	in     Input
	call   int64
}

// Return records the operation's definite outcome.
func (p *PendingOp) Return(out Output) {
	t := p.h.now()
	p.h.mu.Lock()
	defer p.h.mu.Unlock()
	p.h.ops = append(p.h.ops, porcupine.Operation{ClientId: p.client, Input: p.in, Call: p.call, Output: out, Return: t})
}

// ReturnUnknown records an ambiguous write: it may take effect at any
// time after its call, up to the end of the history.
func (p *PendingOp) ReturnUnknown() {
	p.h.mu.Lock()
	defer p.h.mu.Unlock()
	p.h.ops = append(p.h.ops, porcupine.Operation{ClientId: p.client, Input: p.in, Call: p.call, Output: Output{Unknown: true}, Return: math.MaxInt64})
}

// Drop forgets an operation that had no effect (a read that failed, a
// write refused before it was proposed).
func (p *PendingOp) Drop() {}

// Operations returns the recorded operations.
func (h *History) Operations() []porcupine.Operation {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]porcupine.Operation(nil), h.ops...)
}

// CheckLinearizable checks the history with porcupine. When it is not
// linearizable and vizPath is not empty, the visualization is written
// there. It returns an error describing the outcome unless the history is
// linearizable.
func (h *History) CheckLinearizable(timeout time.Duration, vizPath string) error {
	ops := h.Operations()
	res, info := porcupine.CheckOperationsVerbose(KVModel, ops, timeout)
	switch res {
	case porcupine.Ok:
		return nil
	case porcupine.Unknown:
		return fmt.Errorf("linearizability check of %d operations timed out after %v", len(ops), timeout)
	}
	if vizPath != "" {
		if err := porcupine.VisualizePath(KVModel, info, vizPath); err == nil {
			return fmt.Errorf("history of %d operations is not linearizable; visualization in %s", len(ops), vizPath)
		}
	}
	return fmt.Errorf("history of %d operations is not linearizable", len(ops))
}
