/** C0 controls, DEL and C1 controls: no name, email or label a person types holds one, and PostgreSQL refuses U+0000 in text. */
export const CONTROL_CHARACTER = /[\u0000-\u001f\u007f-\u009f]/u;

/**
 * Half of a UTF-16 pair on its own. JSON allows "\ud800", but no UTF-8 text can carry
 * it: encoding would silently turn it into U+FFFD, a different string.
 */
export const LONE_SURROGATE = /\p{Cs}/u;

export const hasControlCharacter = (value: string): boolean => CONTROL_CHARACTER.test(value);
export const hasLoneSurrogate = (value: string): boolean => LONE_SURROGATE.test(value);
