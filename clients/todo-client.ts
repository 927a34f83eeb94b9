/**
 * A small Todo API client on plain `fetch`, typed only by the types that
 * `npx openapi-typescript` generates from the OpenAPI document
 * (`generated/api.d.ts`, see docs/api.md, "Typed clients").
 *
 * CI generates the types from the app's document and type-checks this file
 * (tests/test_typescript_client.py): a change to the document that would break
 * a client like this one (a body field that becomes required or nullable, an
 * undeclared ETag or Location header, an error code that is no longer one of
 * the contract's) fails CI.
 */
import type { components, operations, paths } from "./generated/api";

type Schemas = components["schemas"];
export type Task = Schemas["Task"];
export type TaskCreate = Schemas["TaskCreate"];
export type TaskUpdate = Schemas["TaskUpdate"];
export type TaskPage = Schemas["TaskPage"];
export type ErrorBody = Schemas["ErrorBody"];
export type ErrorCode = ErrorBody["error_code"];
export type TaskFilters = NonNullable<operations["listTasks"]["parameters"]["query"]>;

type Created = operations["createTask"]["responses"][201];
type Fetched = operations["getTask"]["responses"][200];
type Updated = operations["updateTask"]["responses"][200];
type Listed = operations["listTasks"]["responses"][200];

/** The paths this client calls: each must be a path of the document. */
const TASKS = "/api/{user_id}/tasks" satisfies keyof paths;
const TASK = "/api/{user_id}/tasks/{task_id}" satisfies keyof paths;

/** `Name` when the document says every response of this kind carries the header. */
type Declared<Headers, Name extends string> = Headers extends Record<Name, string> ? Name : never;

/** A task and the ETag it was read with (for `If-Match` on the next write). */
export interface Versioned {
  task: Task;
  etag: string;
}

/** An answer in the error envelope. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: ErrorBody,
  ) {
    super(`${status} ${body.error_code}: ${body.detail}`);
  }
}

export class TodoClient {
  constructor(
    private readonly baseUrl: string,
    private readonly token: () => string | Promise<string>,
  ) {}

  /** `POST /api/{user_id}/tasks`: the new task, its ETag and its Location. */
  async createTask(userId: string, body: TaskCreate): Promise<Versioned & { location: string }> {
    const response = await this.send("POST", this.path(TASKS, userId), { body });
    const created: Created["content"]["application/json"] = await response.json();
    return {
      task: created.data,
      etag: header<Created["headers"], "ETag">(response, "ETag"),
      location: header<Created["headers"], "Location">(response, "Location"),
    };
  }

  /** `GET /api/{user_id}/tasks` with filters, sort and page. */
  async listTasks(userId: string, filters: TaskFilters = {}): Promise<TaskPage> {
    const query = new URLSearchParams();
    for (const [name, value] of Object.entries(filters)) {
      if (value === undefined || value === null) continue;
      // A repeated parameter (`tag`) is sent once per value.
      for (const each of Array.isArray(value) ? value : [value]) query.append(name, String(each));
    }
    const response = await this.send("GET", `${this.path(TASKS, userId)}?${query}`);
    const page: Listed["content"]["application/json"] = await response.json();
    return page;
  }

  /** `GET /api/{user_id}/tasks/{task_id}`. */
  async getTask(userId: string, taskId: number): Promise<Versioned> {
    const response = await this.send("GET", this.path(TASK, userId, taskId));
    const fetched: Fetched["content"]["application/json"] = await response.json();
    return { task: fetched.data, etag: header<Fetched["headers"], "ETag">(response, "ETag") };
  }

  /** `PATCH /api/{user_id}/tasks/{task_id}`: only the fields sent change; with
   * `ifMatch`, only if nobody changed the task since (else 412). */
  async updateTask(
    userId: string,
    taskId: number,
    body: TaskUpdate,
    ifMatch?: string,
  ): Promise<Versioned> {
    const headers: NonNullable<operations["updateTask"]["parameters"]["header"]> = {};
    if (ifMatch !== undefined) headers["If-Match"] = ifMatch;
    const response = await this.send("PATCH", this.path(TASK, userId, taskId), { body, headers });
    const updated: Updated["content"]["application/json"] = await response.json();
    return { task: updated.data, etag: header<Updated["headers"], "ETag">(response, "ETag") };
  }

  private path(template: keyof paths, userId: string, taskId?: number): string {
    return template
      .replace("{user_id}", encodeURIComponent(userId))
      .replace("{task_id}", String(taskId));
  }

  private async send(
    method: string,
    path: string,
    options: { body?: object; headers?: Record<string, string> } = {},
  ): Promise<Response> {
    const headers = new Headers(options.headers);
    headers.set("Authorization", `Bearer ${await this.token()}`);
    if (options.body !== undefined) headers.set("Content-Type", "application/json");
    const response = await fetch(new URL(path, this.baseUrl), {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
    });
    if (!response.ok) {
      const body: ErrorBody = await response.json();
      throw new ApiError(response.status, body);
    }
    return response;
  }
}

function header<Headers, Name extends string>(
  response: Response,
  name: Declared<Headers, Name>,
): string {
  const value = response.headers.get(name);
  if (value === null) throw new Error(`The response has no ${name} header`);
  return value;
}

/** What a front end does about an error: one branch per code of the contract. */
export function handle(error: ApiError): string {
  const code: ErrorCode = error.body.error_code;
  switch (code) {
    case "UNAUTHORIZED":
      return "refresh the token once, then sign in again";
    case "VALIDATION_ERROR": {
      const fields = Object.entries(error.body.field_errors ?? {});
      return fields.map(([field, messages]) => `${field}: ${messages.join("; ")}`).join("\n");
    }
    case "PRECONDITION_FAILED":
    case "CONFLICT":
      return "changed elsewhere: reload it";
    case "RATE_LIMITED":
    case "SERVICE_UNAVAILABLE":
      return "try again after Retry-After";
    case "NOT_FOUND":
    case "FORBIDDEN":
    case "CURSOR_EXPIRED":
      return "gone: reload the list";
    case "BAD_REQUEST":
    case "INVALID_CREDENTIALS":
    case "METHOD_NOT_ALLOWED":
    case "EMAIL_TAKEN":
    case "PAYLOAD_TOO_LARGE":
    case "UNSUPPORTED_MEDIA_TYPE":
    case "IDEMPOTENCY_KEY_REUSED":
    case "INTERNAL_ERROR":
      return error.body.detail;
    default: {
      const unknown: never = code; // every code of the contract is handled above
      return unknown;
    }
  }
}

/** Create with only a title, list with filters, patch a part, handle errors. */
export async function example(client: TodoClient, userId: string): Promise<void> {
  try {
    const { task, etag, location } = await client.createTask(userId, { title: "Buy milk" });
    console.log(`created ${location}`);
    const page = await client.listTasks(userId, {
      status: "pending",
      priority: "high",
      tag: ["home", "errands"],
      sort: "due_date",
      order: "asc",
      page_size: 50,
    });
    console.log(`${page.total} pending: ${page.data.map((each) => each.title).join(", ")}`);
    const patched = await client.updateTask(
      userId,
      task.id,
      { priority: "high", tags: ["home"], due_date: null },
      etag,
    );
    const again = await client.getTask(userId, patched.task.id);
    console.log(again.etag === patched.etag, again.task.completed_at ?? "open");
  } catch (error) {
    if (error instanceof ApiError) console.error(handle(error));
    else throw error;
  }
}
