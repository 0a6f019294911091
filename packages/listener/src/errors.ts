/** An Error (or TypeError/RangeError) carrying a Node-style `code`, as Node's own argument errors do. */
export type CodedError<E extends Error = Error> = E & { code: string };

export function codedError<E extends Error>(
  ErrorClass: new (message: string) => E,
  code: string,
  message: string,
): CodedError<E> {
  return Object.assign(new ErrorClass(message), { code });
}
