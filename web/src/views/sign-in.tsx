/** Placeholder. */
export function LoginView() {
  return <h1>Log in</h1>;
}

/** Placeholder. */
export function RegisterView() {
  return <h1>Register</h1>;
}
