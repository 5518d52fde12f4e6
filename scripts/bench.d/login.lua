-- wrk script: POST /v1/auth/login with the bench customer's credentials (LOGIN_EMAIL,
-- LOGIN_PASSWORD). Each login verifies an argon2id hash at the configured cost.
local body = string.format('{"email":"%s","password":"%s"}', os.getenv("LOGIN_EMAIL"), os.getenv("LOGIN_PASSWORD"))

function request()
  return wrk.format("POST", "/v1/auth/login", { ["Content-Type"] = "application/json" }, body)
end
