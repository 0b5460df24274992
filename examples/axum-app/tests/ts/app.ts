// A front end typed by the declarations `axum-app --emit-client-types`
// writes (tests/client_types.rs compiles it with `tsc --strict`). Each
// `@ts-expect-error` line must be an error: if the types were missing or
// `any`, tsc would report the directive as unused and the test would fail.
import { createAuthClient } from "better-auth/client";
import { customSessionClient } from "better-auth/client/plugins";
import type { TesseraAuth } from "./tessera-auth";

const client = createAuthClient({
  baseURL: "http://127.0.0.1:3000",
  plugins: [customSessionClient<TesseraAuth>()],
});

export async function describeSession(): Promise<string> {
  const { data } = await client.getSession();
  if (!data) {
    return "signed out";
  }
  // The Rust shape: roles next to the session, newField on the user.
  const roles: string[] = data.roles;
  const newField: string = data.user.newField;
  // better-auth's own user and session, dates parsed by the client.
  const email: string = data.user.email;
  const expiresAt: Date = data.session.expiresAt;

  // @ts-expect-error a misspelt field is not there
  data.user.newFeild;
  // @ts-expect-error roles are strings, not a number
  const count: number = data.roles;
  // @ts-expect-error newField is a string
  data.user.newField.toFixed();
  // @ts-expect-error roles sit beside the user, not on it
  data.user.roles;

  return `${email} ${roles.join(",")} ${newField} ${expiresAt.toISOString()} ${count}`;
}
