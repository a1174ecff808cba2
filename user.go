package dowser

// Role is what a user may do.
type Role string

// Roles a user can have.
const (
	RoleRep      Role = "rep"
	RoleMarketer Role = "marketer"
	RoleAdmin    Role = "admin"
	// RoleSource is an upstream system: it may only post events.
	RoleSource Role = "source"
	// RoleManager is a sales manager: a person who reads like a rep and
	// receives the alerts of the reps they subscribe to.
	RoleManager Role = "manager"
)

// Validate returns nil for one of the Role constants.
func (r Role) Validate() error {
	if fe := r.check("role"); fe != nil {
		return fe
	}
	return nil
}

func (r Role) check(field string) *FieldError {
	switch r {
	case RoleRep, RoleMarketer, RoleManager, RoleAdmin, RoleSource:
		return nil
	}
	return fieldErrorf(field, "%s is not one of rep, marketer, manager, admin, source", quoteShort(string(r)))
}

// User is a person who logs in (a sales rep, a marketer, a manager or an
// admin), or an upstream system posting events (source). A disabled user
// keeps everything but cannot log in or use a token or session.
type User struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Role     Role   `json:"role"`
	Disabled bool   `json:"disabled"`
}

// Validate checks the user's id, name (required) and role; a [Problems]
// names every field refused.
func (u User) Validate() error {
	return checkFields(KindUsers, "id", u.ID, "name", u.Name, "role", string(u.Role)).Err()
}
