"""HTTP plumbing below the routers: cookies, CSRF, body limit, headers, request observation."""
