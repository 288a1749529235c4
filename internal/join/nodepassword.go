package join

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// nodePasswordNamespace holds one Secret per node with its password's hash.
const nodePasswordNamespace = "kube-system"

// errNameTaken is returned when a node name is held by another node.
var errNameTaken = errors.New("node name taken")

func nodePasswordSecret(node string) string { return node + ".node-password.skiff" }

// ClaimNodeName is the check every joining node passes, for a node that
// joins without the endpoints: the server's own. It fails with an error
// that says the name is taken when another node holds it.
func ClaimNodeName(ctx context.Context, client kubernetes.Interface, node, password string) error {
	err := checkNodePassword(ctx, client, node, password)
	if errors.Is(err, errNameTaken) {
		return fmt.Errorf("node name %q is already taken by another node; choose another with --node-name", node)
	}
	return err
}

// checkNodePassword admits a node name to the holder of its password: the
// first node to use a name stores its password's hash, and every later join
// under that name must present the same password. That is what lets a node
// rejoin (same data dir) while a second machine with the same host name is
// told to pick another name.
func checkNodePassword(ctx context.Context, client kubernetes.Interface, node, password string) error {
	if password == "" {
		return errors.New("no node password given")
	}
	secrets := client.CoreV1().Secrets(nodePasswordNamespace)
	s, err := secrets.Get(ctx, nodePasswordSecret(node), metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		h, err := hashPassword(password)
		if err != nil {
			return err
		}
		_, err = secrets.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{
				Name:      nodePasswordSecret(node),
				Namespace: nodePasswordNamespace,
				Labels:    map[string]string{"skiff.io/node-password": "true"},
			},
			Type: "skiff.io/node-password",
			Data: map[string][]byte{"hash": []byte(h)},
		}, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			// Two joins under one name raced: the other one won the name
			// unless it was this node again.
			return checkNodePassword(ctx, client, node, password)
		}
		if err != nil {
			return fmt.Errorf("storing the node password of %s: %w", node, err)
		}
		return nil
	case err != nil:
		return fmt.Errorf("reading the node password of %s: %w", node, err)
	}
	if !passwordMatches(string(s.Data["hash"]), password) {
		return errNameTaken
	}
	return nil
}

// hashPassword stores a salted SHA-256. The passwords are 32 random bytes
// made by the nodes, so a slow hash would add nothing but join time.
func hashPassword(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("making a salt: %w", err)
	}
	return "sha256:" + hex.EncodeToString(salt) + ":" + digest(salt, password), nil
}

func passwordMatches(stored, password string) bool {
	parts := strings.Split(stored, ":")
	if len(parts) != 3 || parts[0] != "sha256" {
		return false
	}
	salt, err := hex.DecodeString(parts[1])
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(digest(salt, password)), []byte(parts[2])) == 1
}

func digest(salt []byte, password string) string {
	h := sha256.New()
	h.Write(salt)
	h.Write([]byte(password))
	return hex.EncodeToString(h.Sum(nil))
}
