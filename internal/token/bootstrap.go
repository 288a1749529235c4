package token

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	bootstrapapi "k8s.io/cluster-bootstrap/token/api"
	bootstraputil "k8s.io/cluster-bootstrap/token/util"
	bootstrapsecrets "k8s.io/cluster-bootstrap/util/secrets"
)

// Bootstrap tokens are Kubernetes bootstrap tokens (kubeadm's format,
// <id>.<secret>, id 6 and secret 16 characters of [a-z0-9]) kept as Secrets
// bootstrap-token-<id> in kube-system. skiff's carry the group AgentGroup,
// and they let agents join, nothing more: the supervisor checks
// them with Validate. Users hand them out in the full form
// K10<CA hash>::<id>.<secret> (a Token with no user name).

// AgentGroup is the extra group of the bootstrap tokens that join agents.
const AgentGroup = "system:bootstrappers:skiff:agent"

// ErrRefused marks a bootstrap token Validate does not accept. Any other
// error from Validate means it could not tell (the apiserver did not answer).
var ErrRefused = errors.New("token refused")

// ErrNoSuchToken marks a Delete of a bootstrap token that does not exist.
var ErrNoSuchToken = errors.New("no such bootstrap token")

// BootstrapToken is a bootstrap token as List shows it; the secret is not
// part of it.
type BootstrapToken struct {
	ID          string
	Description string
	// Expires is zero for a token that never expires. An expiration that
	// does not parse is the Unix epoch: long expired, as the apiserver
	// treats it.
	Expires time.Time
	Usages  []string // "authentication", "signing"
	Groups  []string // the extra groups
}

// Expired says whether the token no longer works at now.
func (b BootstrapToken) Expired(now time.Time) bool {
	return !b.Expires.IsZero() && !now.Before(b.Expires)
}

// SplitBootstrap tells whether s (the secret part of a Token) is a bootstrap
// token <id>.<secret>, and splits it.
func SplitBootstrap(s string) (id, secret string, ok bool) {
	if !bootstraputil.IsValidBootstrapToken(s) {
		return "", "", false
	}
	id, secret, _ = strings.Cut(s, ".")
	return id, secret, true
}

// Create makes a bootstrap token that joins agents and expires after ttl (0:
// never), and returns its id and secret.
func Create(ctx context.Context, client kubernetes.Interface, ttl time.Duration, description string) (id, secret string, err error) {
	if err := CheckCreate(ttl, description); err != nil {
		return "", "", err
	}
	// A new id colliding with an existing token is unlikely (36^6 ids) but
	// would otherwise be an error for no fault of the user's.
	for range 5 {
		tok, err := bootstraputil.GenerateBootstrapToken()
		if err != nil {
			return "", "", fmt.Errorf("generating a bootstrap token: %w", err)
		}
		id, secret, _ = strings.Cut(tok, ".")
		s := bootstrapSecret(id, secret, ttl, description, time.Now())
		_, err = client.CoreV1().Secrets(metav1.NamespaceSystem).Create(ctx, s, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			continue
		}
		if err != nil {
			return "", "", fmt.Errorf("creating Secret %s/%s: %w", metav1.NamespaceSystem, s.Name, err)
		}
		return id, secret, nil
	}
	return "", "", errors.New("creating a bootstrap token: every generated ID was taken; try again")
}

// CheckCreate says what is wrong with the input of Create, before anything
// is asked of the cluster.
func CheckCreate(ttl time.Duration, description string) error {
	if ttl < 0 {
		return fmt.Errorf("the time to live %v is negative; give a positive duration such as 24h, or 0 for a token that never expires", ttl)
	}
	if ttl > 0 && ttl < time.Second {
		return fmt.Errorf("the time to live %v is under a second; give a duration such as 24h, or 0 for a token that never expires", ttl)
	}
	if strings.ContainsAny(description, "\r\n") {
		return errors.New("the description must be one line")
	}
	return nil
}

// CheckBootstrapID says what is wrong with a bootstrap token ID.
func CheckBootstrapID(id string) error {
	if !bootstraputil.IsValidBootstrapTokenID(id) {
		return fmt.Errorf("%q is not a bootstrap token ID (6 characters, a-z and 0-9; see 'skiff token list')", id)
	}
	return nil
}

func bootstrapSecret(id, secret string, ttl time.Duration, description string, now time.Time) *corev1.Secret {
	data := map[string][]byte{
		bootstrapapi.BootstrapTokenIDKey:               []byte(id),
		bootstrapapi.BootstrapTokenSecretKey:           []byte(secret),
		bootstrapapi.BootstrapTokenUsageAuthentication: []byte("true"),
		bootstrapapi.BootstrapTokenExtraGroupsKey:      []byte(AgentGroup),
	}
	if ttl > 0 {
		data[bootstrapapi.BootstrapTokenExpirationKey] = []byte(now.Add(ttl).UTC().Format(time.RFC3339))
	}
	if description != "" {
		data[bootstrapapi.BootstrapTokenDescriptionKey] = []byte(description)
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name:      bootstraputil.BootstrapTokenSecretName(id),
			Namespace: metav1.NamespaceSystem,
		},
		Type: bootstrapapi.SecretTypeBootstrapToken,
		Data: data,
	}
}

// List returns every bootstrap token in kube-system, by ID, skiff's or not
// (as kubeadm token list does), expired ones included.
func List(ctx context.Context, client kubernetes.Interface) ([]BootstrapToken, error) {
	list, err := client.CoreV1().Secrets(metav1.NamespaceSystem).List(ctx, metav1.ListOptions{
		FieldSelector: "type=" + string(bootstrapapi.SecretTypeBootstrapToken),
	})
	if err != nil {
		return nil, fmt.Errorf("listing bootstrap tokens in %s: %w", metav1.NamespaceSystem, err)
	}
	var out []BootstrapToken
	for i := range list.Items {
		s := &list.Items[i]
		id, ok := bootstrapsecrets.ParseName(s.Name)
		if s.Type != bootstrapapi.SecretTypeBootstrapToken || !ok || bootstrapsecrets.GetData(s, bootstrapapi.BootstrapTokenIDKey) != id {
			continue // not a token the apiserver would accept either
		}
		b := BootstrapToken{
			ID:          id,
			Description: bootstrapsecrets.GetData(s, bootstrapapi.BootstrapTokenDescriptionKey),
		}
		if exp := bootstrapsecrets.GetData(s, bootstrapapi.BootstrapTokenExpirationKey); exp != "" {
			t, err := time.Parse(time.RFC3339, exp)
			if err != nil {
				t = time.Unix(0, 0)
			}
			b.Expires = t
		}
		for _, u := range bootstrapapi.KnownTokenUsages {
			if bootstrapsecrets.GetData(s, bootstrapapi.BootstrapTokenUsagePrefix+u) == "true" {
				b.Usages = append(b.Usages, u)
			}
		}
		if g := bootstrapsecrets.GetData(s, bootstrapapi.BootstrapTokenExtraGroupsKey); g != "" {
			b.Groups = strings.Split(g, ",")
		}
		out = append(out, b)
	}
	slices.SortFunc(out, func(a, b BootstrapToken) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}

// Delete removes the bootstrap tokens with the given IDs. It goes through
// all of them; an ID with no token gives an error wrapping ErrNoSuchToken
// (after the others were deleted), a malformed ID one that says so.
func Delete(ctx context.Context, client kubernetes.Interface, ids ...string) error {
	for _, id := range ids {
		if err := CheckBootstrapID(id); err != nil {
			return err
		}
	}
	var missing []string
	for _, id := range ids {
		name := bootstraputil.BootstrapTokenSecretName(id)
		err := client.CoreV1().Secrets(metav1.NamespaceSystem).Delete(ctx, name, metav1.DeleteOptions{})
		if apierrors.IsNotFound(err) {
			missing = append(missing, id)
			continue
		}
		if err != nil {
			return fmt.Errorf("deleting Secret %s/%s: %w", metav1.NamespaceSystem, name, err)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w with ID %s", ErrNoSuchToken, strings.Join(missing, ", "))
	}
	return nil
}

// Validate tells whether id and secret are a bootstrap token that may join
// an agent at now: its Secret exists, the secret matches, it has not
// expired, it is for authentication, and it carries AgentGroup (a token made
// for something else does not join nodes). A refusal wraps ErrRefused and
// never contains the secret.
func Validate(ctx context.Context, client kubernetes.Interface, id, secret string, now time.Time) error {
	if !bootstraputil.IsValidBootstrapToken(id + "." + secret) {
		return fmt.Errorf("%w: not a bootstrap token (<id>.<secret>, 6 and 16 characters of a-z and 0-9)", ErrRefused)
	}
	name := bootstraputil.BootstrapTokenSecretName(id)
	s, err := client.CoreV1().Secrets(metav1.NamespaceSystem).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("%w: no bootstrap token with ID %s", ErrRefused, id)
	}
	if err != nil {
		return fmt.Errorf("reading bootstrap token %s: %w", id, err)
	}
	if s.Type != bootstrapapi.SecretTypeBootstrapToken || bootstrapsecrets.GetData(s, bootstrapapi.BootstrapTokenIDKey) != id {
		return fmt.Errorf("%w: Secret %s/%s is not a bootstrap token", ErrRefused, metav1.NamespaceSystem, name)
	}
	stored := bootstrapsecrets.GetData(s, bootstrapapi.BootstrapTokenSecretKey)
	if subtle.ConstantTimeCompare([]byte(stored), []byte(secret)) != 1 {
		return fmt.Errorf("%w: wrong secret for bootstrap token %s", ErrRefused, id)
	}
	if bootstrapsecrets.HasExpired(s, now) {
		return fmt.Errorf("%w: bootstrap token %s expired at %s", ErrRefused, id, bootstrapsecrets.GetData(s, bootstrapapi.BootstrapTokenExpirationKey))
	}
	if bootstrapsecrets.GetData(s, bootstrapapi.BootstrapTokenUsageAuthentication) != "true" {
		return fmt.Errorf("%w: bootstrap token %s is not for authentication", ErrRefused, id)
	}
	groups, err := bootstrapsecrets.GetGroups(s)
	if err != nil || !slices.Contains(groups, AgentGroup) {
		return fmt.Errorf("%w: bootstrap token %s is not for joining agents (its groups lack %s; make one with 'skiff token create')", ErrRefused, id, AgentGroup)
	}
	return nil
}
