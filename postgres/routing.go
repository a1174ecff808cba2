package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Contact is a person (a customer id of the events) with a rep of their
// own, who receives their alerts before their account's owner does, and
// optionally the account they belong to.
type Contact struct {
	ID        string `json:"id"`
	OwnerID   string `json:"owner"`
	AccountID string `json:"account_id"`
}

// PutContact creates or updates a contact.
func (s *Store) PutContact(ctx context.Context, c Contact) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO contacts (id, owner_id, account_id) VALUES ($1, nullif($2, ''), $3)
		ON CONFLICT (id) DO UPDATE SET owner_id = nullif($2, ''), account_id = $3, updated_at = now()`,
		c.ID, c.OwnerID, c.AccountID)
	if err != nil {
		// Not the id: the message ends up in logs.
		return fmt.Errorf("saving a contact: %w", err)
	}
	return nil
}

// GetContact returns the contact with that id, or ErrNotFound.
func (s *Store) GetContact(ctx context.Context, id string) (Contact, error) {
	var c Contact
	err := s.pool.QueryRow(ctx, `SELECT id, coalesce(owner_id, ''), account_id FROM contacts WHERE id = $1`, id).
		Scan(&c.ID, &c.OwnerID, &c.AccountID)
	if err != nil {
		return c, notFound(err, "contact "+id)
	}
	return c, nil
}

// TerritoryRule sends the alerts of accounts without an owner to a rep:
// the first rule, by Priority (lowest first) then ID, whose non-empty
// attributes all equal the account's, ignoring case.
type TerritoryRule struct {
	ID       string `json:"id"`
	Priority int    `json:"priority"`
	Region   string `json:"region"`
	Industry string `json:"industry"`
	Size     string `json:"size"`
	RepID    string `json:"rep"`
}

// PutTerritoryRule creates or updates a territory rule.
func (s *Store) PutTerritoryRule(ctx context.Context, r TerritoryRule) error {
	_, err := s.pool.Exec(ctx, `
		INSERT INTO territory_rules (id, priority, region, industry, size, rep_id) VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (id) DO UPDATE SET priority = $2, region = $3, industry = $4, size = $5, rep_id = $6, updated_at = now()`,
		r.ID, r.Priority, r.Region, r.Industry, r.Size, r.RepID)
	if err != nil {
		return fmt.Errorf("saving territory rule %q: %w", r.ID, err)
	}
	return nil
}

// GetTerritoryRule returns the territory rule with that id, or ErrNotFound.
func (s *Store) GetTerritoryRule(ctx context.Context, id string) (TerritoryRule, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, priority, region, industry, size, rep_id FROM territory_rules WHERE id = $1`, id)
	if err != nil {
		return TerritoryRule{}, fmt.Errorf("reading territory rule %q: %w", id, err)
	}
	r, err := pgx.CollectExactlyOneRow(rows, pgx.RowToStructByPos[TerritoryRule])
	if err != nil {
		return r, notFound(err, "territory rule "+id)
	}
	return r, nil
}

// DeleteTerritoryRule deletes a territory rule, or returns ErrNotFound.
func (s *Store) DeleteTerritoryRule(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM territory_rules WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("deleting territory rule %q: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("territory rule %s: %w", id, ErrNotFound)
	}
	return nil
}

// ListTerritoryRules returns every territory rule in the order routing
// tries them.
func (s *Store) ListTerritoryRules(ctx context.Context) ([]TerritoryRule, error) {
	return s.territoryRules(ctx)
}

// RoutingTerritoryRules returns every territory rule in the order routing
// tries them, and the role of each rule's rep now ("" when the rep is no
// user), for routing to skip a rep whose role no longer fits.
func (s *Store) RoutingTerritoryRules(ctx context.Context) ([]TerritoryRule, []string, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT r.id, r.priority, r.region, r.industry, r.size, r.rep_id, coalesce(u.role, '')
		FROM territory_rules r LEFT JOIN users u ON u.id = r.rep_id AND NOT u.disabled AND u.deleted_at IS NULL
		ORDER BY r.priority, r.id`)
	if err != nil {
		return nil, nil, fmt.Errorf("listing territory rules: %w", err)
	}
	defer rows.Close()
	var rules []TerritoryRule
	var roles []string
	for rows.Next() {
		var r TerritoryRule
		var role string
		if err := rows.Scan(&r.ID, &r.Priority, &r.Region, &r.Industry, &r.Size, &r.RepID, &role); err != nil {
			return nil, nil, fmt.Errorf("reading territory rules: %w", err)
		}
		rules, roles = append(rules, r), append(roles, role)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("reading territory rules: %w", err)
	}
	return rules, roles, nil
}

func (s *Store) territoryRules(ctx context.Context) ([]TerritoryRule, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT r.id, r.priority, r.region, r.industry, r.size, r.rep_id FROM territory_rules r
		ORDER BY r.priority, r.id`)
	if err != nil {
		return nil, fmt.Errorf("listing territory rules: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[TerritoryRule])
	if err != nil {
		return nil, fmt.Errorf("reading territory rules: %w", err)
	}
	if out == nil {
		out = []TerritoryRule{}
	}
	return out, nil
}

// Subscribe makes the manager receive every alert addressed to the rep
// from now on. Subscribing twice is not an error. The caller checks the
// users' roles; an unknown user is ErrNotFound.
func (s *Store) Subscribe(ctx context.Context, managerID, repID string) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO manager_subscriptions (manager_id, rep_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, managerID, repID)
	if err != nil {
		if isForeignKeyViolation(err) {
			return fmt.Errorf("subscribing %s to %s: a user: %w", managerID, repID, ErrNotFound)
		}
		return fmt.Errorf("subscribing %s to %s: %w", managerID, repID, err)
	}
	return nil
}

// Unsubscribe ends a manager's subscription to a rep; ending one that does
// not exist is not an error.
func (s *Store) Unsubscribe(ctx context.Context, managerID, repID string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM manager_subscriptions WHERE manager_id = $1 AND rep_id = $2`, managerID, repID); err != nil {
		return fmt.Errorf("unsubscribing %s from %s: %w", managerID, repID, err)
	}
	return nil
}

// Subscriptions returns the reps the manager subscribes to, by id.
func (s *Store) Subscriptions(ctx context.Context, managerID string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT rep_id FROM manager_subscriptions WHERE manager_id = $1 ORDER BY rep_id`, managerID)
	if err != nil {
		return nil, fmt.Errorf("listing subscriptions of %q: %w", managerID, err)
	}
	reps, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("reading subscriptions of %q: %w", managerID, err)
	}
	return reps, nil
}

// Subscribers returns, by id, the managers subscribed to one of the users.
func (s *Store) Subscribers(ctx context.Context, userIDs []string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT DISTINCT m.manager_id FROM manager_subscriptions m JOIN users u ON u.id = m.manager_id
		WHERE m.rep_id = ANY($1::text[]) AND u.role = 'manager' AND NOT u.disabled AND u.deleted_at IS NULL ORDER BY m.manager_id`, userIDs)
	if err != nil {
		return nil, fmt.Errorf("finding subscribed managers: %w", err)
	}
	managers, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("reading subscribed managers: %w", err)
	}
	return managers, nil
}

// ContactRouting returns the owner and account of the person with that
// customer id, as routing needs them: empty when the person is unknown;
// ownerRole is the owner's role now, "" when the owner is no user.
func (s *Store) ContactRouting(ctx context.Context, customerID string) (c Contact, ownerRole string, err error) {
	c = Contact{ID: customerID}
	err = s.pool.QueryRow(ctx, `
		SELECT coalesce(c.owner_id, ''), coalesce(u.role, ''), c.account_id FROM contacts c LEFT JOIN users u ON u.id = c.owner_id AND NOT u.disabled AND u.deleted_at IS NULL
		WHERE c.id = $1`, customerID).Scan(&c.OwnerID, &ownerRole, &c.AccountID)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, "", nil
	}
	if err != nil {
		// Not the id: the message ends up in logs.
		return c, "", fmt.Errorf("reading a contact: %w", err)
	}
	return c, ownerRole, nil
}

// AccountRouting returns the account as routing needs it: empty when the
// account is unknown; ownerRole is the owner's role now, "" when the owner
// is no user.
func (s *Store) AccountRouting(ctx context.Context, accountID string) (a Account, ownerRole string, err error) {
	a = Account{ID: accountID}
	err = s.pool.QueryRow(ctx, `
		SELECT a.name, coalesce(a.owner_id, ''), coalesce(u.role, ''), a.lifecycle, a.region, a.industry, a.size
		FROM accounts a LEFT JOIN users u ON u.id = a.owner_id AND NOT u.disabled AND u.deleted_at IS NULL WHERE a.id = $1`, accountID).
		Scan(&a.Name, &a.OwnerID, &ownerRole, &a.Lifecycle, &a.Region, &a.Industry, &a.Size)
	if errors.Is(err, pgx.ErrNoRows) {
		return a, "", nil
	}
	if err != nil {
		return a, "", fmt.Errorf("reading account %q: %w", accountID, err)
	}
	return a, ownerRole, nil
}

// Reps returns the ids of every active (not disabled or deleted) user
// with the rep role, by id.
func (s *Store) Reps(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT id FROM users WHERE role = 'rep' AND NOT disabled AND deleted_at IS NULL ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("listing reps: %w", err)
	}
	reps, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("reading reps: %w", err)
	}
	return reps, nil
}

// isForeignKeyViolation reports whether err is PostgreSQL's
// foreign_key_violation: a referenced row does not exist.
func isForeignKeyViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23503"
}
