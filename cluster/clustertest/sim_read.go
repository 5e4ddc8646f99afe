package clustertest

import (
	"errors"

	"github.com/distributedkv/dkv"
	"github.com/distributedkv/dkv/cluster/keys"
)

// readLocal reads a user key from a node's engine (after a read barrier).
func readLocal(n *SimNode, key string) (string, bool, error) {
	v, err := n.Store.DB().Get(keys.User([]byte(key)))
	if errors.Is(err, dkv.ErrNotFound) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return string(v), true, nil
}
