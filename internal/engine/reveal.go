package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"bucketdesk/internal/core"
)

// RevealKey returns the secret of access key key (1 or 2) of a user, once:
// the key id is recorded as revealed in the same conditional write that
// allows it, so two managers racing for it cannot both see it. To see a
// secret again, rotate the key. The secret is read from Secrets Manager
// and never stored, logged or published.
//
// Each reveal is recorded in the audit trail, refused or succeeded, with
// the key's id and never its secret.
func (s *Service) RevealKey(ctx context.Context, who core.Principal, project, user string, key int) (accessKeyID, secret string, err error) {
	defer func() { s.d.auditReveal(ctx, who, project, user, key, accessKeyID, err) }()
	p, err := s.Project(ctx, who, project)
	if err != nil {
		return "", "", err
	}
	r, err := s.Get(ctx, who, project, core.KindUser, user)
	if err != nil {
		return "", "", err
	}
	if key < 1 || key > core.MaxAccessKeys {
		return "", "", &core.ValidationError{Problems: []core.FieldError{{Field: "key", Message: "must be 1 or 2"}}}
	}
	id := r.Observed.Outputs[fmt.Sprintf("AccessKey%dId", key)]
	arn := r.Observed.Outputs[fmt.Sprintf("AccessKey%dSecretArn", key)]
	if id == "" || arn == "" {
		return "", "", fmt.Errorf("%w: user %q has no access key %d yet", core.ErrNotFound, user, key)
	}
	if slices.Contains(r.Revealed, id) {
		return "", "", revealedTwice(id)
	}
	value, err := s.d.Cloud.GetSecretValue(ctx, p.Account(), arn)
	if err != nil {
		return "", "", err
	}
	var pair struct{ AccessKeyId, SecretAccessKey string }
	if err := json.Unmarshal([]byte(value), &pair); err != nil || pair.AccessKeyId != id || pair.SecretAccessKey == "" {
		// Never quote the value: it is the secret.
		return "", "", fmt.Errorf("%w: the secret of access key %s is not an access key pair", core.ErrInternal, id)
	}
	_, err = s.d.change(ctx, r.Key(), func(r *core.Resource) (bool, error) {
		if slices.Contains(r.Revealed, id) {
			return false, revealedTwice(id)
		}
		// Keep only the ids of keys that still exist, so the list stays short.
		live := r.Revealed[:0]
		for _, k := range r.Revealed {
			if slices.Contains([]string{r.Observed.Outputs["AccessKey1Id"], r.Observed.Outputs["AccessKey2Id"]}, k) {
				live = append(live, k)
			}
		}
		r.Revealed = append(live, id)
		return true, nil
	})
	if err != nil {
		return "", "", err
	}
	return id, pair.SecretAccessKey, nil
}

func revealedTwice(id string) error {
	return fmt.Errorf("%w: the secret of access key %s was already revealed; rotate the key to get a new secret", core.ErrConflict, id)
}
