"""Who may use the admin: the API's bearer token, the console's login and password hash."""
