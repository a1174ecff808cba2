package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/dowserhq/dowser/schema"
)

// Roles a user can have (schema's, named here for the callers of Store).
const (
	RoleRep      = schema.RoleRep
	RoleMarketer = schema.RoleMarketer
	RoleAdmin    = schema.RoleAdmin
	// RoleSource is an upstream system: it may only post events.
	RoleSource = schema.RoleSource
	// RoleManager is a sales manager: a person who reads like a rep and
	// receives the alerts of the reps they subscribe to.
	RoleManager = schema.RoleManager
)

// User is a person who logs in (a sales rep, a marketer, a manager or an
// admin), or an upstream system posting events (source). A disabled user
// keeps everything but cannot log in or use a token or session.
type User struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Role     string `json:"role"`
	Disabled bool   `json:"disabled"`
}

// ErrUserDeleted is returned when saving a user under the id of a deleted
// one: the id stays reserved for the history of the alerts it was sent.
var ErrUserDeleted = errors.New("the user was deleted; its id stays reserved")

// PutUser creates or updates a user. A non-empty token replaces the user's
// login token; an empty one keeps the current token. Replacing the token
// with a different one, or disabling the user, ends the user's sessions
// and records a revocation (see [Store.RevocationsAfter]).
func (s *Store) PutUser(ctx context.Context, u User, token string) error {
	var hash []byte
	if token != "" {
		hash = hashToken(token)
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var (
			old                  []byte
			wasDisabled, deleted bool
		)
		err := tx.QueryRow(ctx, `SELECT token_hash, disabled, deleted_at IS NOT NULL FROM users WHERE id = $1 FOR UPDATE`, u.ID).
			Scan(&old, &wasDisabled, &deleted)
		exists := err == nil
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if deleted {
			return ErrUserDeleted
		}
		if _, err := tx.Exec(ctx, `
			INSERT INTO users (id, name, role, token_hash, disabled) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (id) DO UPDATE SET name = $2, role = $3, disabled = $5,
				token_hash = coalesce($4, users.token_hash), updated_at = now()`,
			u.ID, u.Name, u.Role, hash, u.Disabled); err != nil {
			return err
		}
		if exists && (hash != nil && !bytes.Equal(hash, old) || u.Disabled && !wasDisabled) {
			return revokeUser(ctx, tx, u.ID)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("saving user %q: %w", u.ID, err)
	}
	return nil
}

// GetUser returns the user with that id, or ErrNotFound (also for a
// deleted user).
func (s *Store) GetUser(ctx context.Context, id string) (User, error) {
	var u User
	err := s.pool.QueryRow(ctx, `SELECT id, name, role, disabled FROM users WHERE id = $1 AND deleted_at IS NULL`, id).
		Scan(&u.ID, &u.Name, &u.Role, &u.Disabled)
	if err != nil {
		return u, notFound(err, "user "+id)
	}
	return u, nil
}

// DeleteUser deletes a user's token and sessions and records a revocation;
// the alerts and deliveries addressed to the user stay, and so does the
// user's row with its id, marked deleted. Deleting an unknown or deleted
// user is ErrNotFound.
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			UPDATE users SET deleted_at = now(), disabled = true, token_hash = NULL, updated_at = now()
			WHERE id = $1 AND deleted_at IS NULL`, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrNotFound
		}
		if _, err := tx.Exec(ctx, `DELETE FROM manager_subscriptions WHERE manager_id = $1 OR rep_id = $1`, id); err != nil {
			return err
		}
		return revokeUser(ctx, tx, id)
	})
	if err != nil {
		return fmt.Errorf("deleting user %q: %w", id, err)
	}
	return nil
}

// UserByToken returns the enabled user whose login token this is, or
// ErrNotFound.
func (s *Store) UserByToken(ctx context.Context, token string) (User, error) {
	var u User
	err := s.pool.QueryRow(ctx, `SELECT id, name, role FROM users WHERE token_hash = $1 AND NOT disabled AND deleted_at IS NULL`,
		hashToken(token)).Scan(&u.ID, &u.Name, &u.Role)
	if err != nil {
		return u, notFound(err, "token")
	}
	return u, nil
}

// CreateSession starts a browser session for the user and returns its
// secret, valid for ttl. Only the secret's hash is stored.
func (s *Store) CreateSession(ctx context.Context, userID string, ttl time.Duration) (string, error) {
	secret := NewToken()
	_, err := s.pool.Exec(ctx, `INSERT INTO sessions (id_hash, user_id, expires_at) VALUES ($1, $2, now() + $3::interval)`,
		hashToken(secret), userID, ttl.String())
	if err != nil {
		return "", fmt.Errorf("creating session for %q: %w", userID, err)
	}
	return secret, nil
}

// UserBySession returns the enabled user of an unexpired session, or
// ErrNotFound.
func (s *Store) UserBySession(ctx context.Context, secret string) (User, error) {
	var u User
	err := s.pool.QueryRow(ctx, `
		SELECT u.id, u.name, u.role FROM sessions s JOIN users u ON u.id = s.user_id
		WHERE s.id_hash = $1 AND s.expires_at > now() AND NOT u.disabled AND u.deleted_at IS NULL`,
		hashToken(secret)).Scan(&u.ID, &u.Name, &u.Role)
	if err != nil {
		return u, notFound(err, "session")
	}
	return u, nil
}

// DeleteSession ends a session and records a revocation for its user;
// ending an unknown one is not an error.
func (s *Store) DeleteSession(ctx context.Context, secret string) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var user string
		err := tx.QueryRow(ctx, `DELETE FROM sessions WHERE id_hash = $1 RETURNING user_id`, hashToken(secret)).Scan(&user)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		return recordRevocation(ctx, tx, user)
	})
	if err != nil {
		return fmt.Errorf("deleting session: %w", err)
	}
	return nil
}

// Account is a customer organisation, owned by a rep. Region, Industry and
// Size are its territory attributes: an account without an owner goes to
// the rep of the first territory rule they match.
type Account struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	OwnerID   string `json:"owner"`
	Lifecycle string `json:"lifecycle"`
	Region    string `json:"region"`
	Industry  string `json:"industry"`
	Size      string `json:"size"`
}

// PutAccount creates or updates an account.
func (s *Store) PutAccount(ctx context.Context, a Account) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO accounts (id, name, owner_id, lifecycle, region, industry, size) VALUES ($1, $2, nullif($3, ''), $4, $5, $6, $7)
		ON CONFLICT (id) DO UPDATE SET name = $2, owner_id = nullif($3, ''), lifecycle = $4,
			region = $5, industry = $6, size = $7, updated_at = now()`,
		a.ID, a.Name, a.OwnerID, a.Lifecycle, a.Region, a.Industry, a.Size)
	if err != nil {
		return fmt.Errorf("saving account %q: %w", a.ID, err)
	}
	return nil
}

// GetAccount returns the account with that id, or ErrNotFound.
func (s *Store) GetAccount(ctx context.Context, id string) (Account, error) {
	var a Account
	err := s.pool.QueryRow(ctx, `SELECT id, name, coalesce(owner_id, ''), lifecycle, region, industry, size FROM accounts WHERE id = $1`, id).
		Scan(&a.ID, &a.Name, &a.OwnerID, &a.Lifecycle, &a.Region, &a.Industry, &a.Size)
	if err != nil {
		return a, notFound(err, "account "+id)
	}
	return a, nil
}

// Content is a piece of marketing content (a page, a webinar, a paper) and
// the marketer who owns it.
type Content struct {
	ID        string `json:"id"`
	Title     string `json:"title"`
	URLPrefix string `json:"url_prefix"`
	OwnerID   string `json:"owner"`
}

// PutContent creates or updates a content item.
func (s *Store) PutContent(ctx context.Context, c Content) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO content (id, title, url_prefix, owner_id) VALUES ($1, $2, $3, nullif($4, ''))
		ON CONFLICT (id) DO UPDATE SET title = $2, url_prefix = $3, owner_id = nullif($4, ''), updated_at = now()`,
		c.ID, c.Title, c.URLPrefix, c.OwnerID)
	if err != nil {
		return fmt.Errorf("saving content %q: %w", c.ID, err)
	}
	return nil
}

// GetContent returns the content item with that id, or ErrNotFound.
func (s *Store) GetContent(ctx context.Context, id string) (Content, error) {
	var c Content
	err := s.pool.QueryRow(ctx, `SELECT id, title, url_prefix, coalesce(owner_id, '') FROM content WHERE id = $1`, id).
		Scan(&c.ID, &c.Title, &c.URLPrefix, &c.OwnerID)
	if err != nil {
		return c, notFound(err, "content "+id)
	}
	return c, nil
}

// ListContent returns every content item, by id.
func (s *Store) ListContent(ctx context.Context) ([]Content, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, title, url_prefix, coalesce(owner_id, '') FROM content ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("listing content: %w", err)
	}
	defer rows.Close()
	var out []Content
	for rows.Next() {
		var c Content
		if err := rows.Scan(&c.ID, &c.Title, &c.URLPrefix, &c.OwnerID); err != nil {
			return nil, fmt.Errorf("reading content: %w", err)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// AccountOwner returns the id of the rep who owns the account, or "" when
// the account is unknown or has no owner.
func (s *Store) AccountOwner(ctx context.Context, accountID string) (string, error) {
	var owner string
	err := s.pool.QueryRow(ctx, `SELECT coalesce(owner_id, '') FROM accounts WHERE id = $1`, accountID).Scan(&owner)
	if err != nil {
		if err := notFound(err, ""); errors.Is(err, ErrNotFound) {
			return "", nil
		}
		return "", fmt.Errorf("reading owner of account %q: %w", accountID, err)
	}
	return owner, nil
}

// AccountLifecycle returns the lifecycle of the account, or "" when unknown.
func (s *Store) AccountLifecycle(ctx context.Context, accountID string) (string, error) {
	a, err := s.GetAccount(ctx, accountID)
	if errors.Is(err, ErrNotFound) {
		return "", nil
	}
	return a.Lifecycle, err
}

// UserRole is a user id with the user's role; Role is "" when the id is no
// user.
type UserRole struct {
	ID, Role string
}

// ContentOwners returns, by id, the distinct owners of the content items
// that have one of contentIDs as id, or a url_prefix that one of urls
// starts with, each with their role now ("" for an owner who is no user).
func (s *Store) ContentOwners(ctx context.Context, contentIDs, urls []string) ([]UserRole, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT DISTINCT c.owner_id, coalesce(u.role, '') FROM content c LEFT JOIN users u ON u.id = c.owner_id AND NOT u.disabled AND u.deleted_at IS NULL
		WHERE c.owner_id IS NOT NULL AND (c.id = ANY($1::text[])
			OR (c.url_prefix <> '' AND EXISTS (SELECT 1 FROM unnest($2::text[]) x WHERE starts_with(x, c.url_prefix))))
		ORDER BY c.owner_id`, contentIDs, urls)
	if err != nil {
		return nil, fmt.Errorf("finding content owners: %w", err)
	}
	owners, err := pgx.CollectRows(rows, pgx.RowToStructByPos[UserRole])
	if err != nil {
		return nil, fmt.Errorf("reading content owners: %w", err)
	}
	return owners, nil
}

// RoleOf returns the user's role, "" when there is no such user.
func (s *Store) RoleOf(ctx context.Context, userID string) (string, error) {
	u, err := s.GetUser(ctx, userID)
	if errors.Is(err, ErrNotFound) {
		return "", nil
	}
	return u.Role, err
}
