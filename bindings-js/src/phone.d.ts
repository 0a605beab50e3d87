
// ---- the phone module only (`micropower/phone`, bindings-js/src/phone.d.ts) ---------------------------------
// These need libphonenumber's metadata, which the first-page module (`micropower`) leaves out to stay small.

/** A valid phone number in E.164 (`"+255712345678"`); `region` (`"TZ"`) for numbers written without `+`. */
export function normalizePhone(raw: string, region?: string | null): string;
/** Every offline rule of a registration form, each failure tied to its field; empty when it may be posted. */
export function registrationFieldErrors(request: RegistrationRequest): FieldError[];
/** Checks a registration against what the host looked up and returns the records to store. */
export function register(request: RegistrationRequest, context: RegistrationContext): Registration;
