// JSON Schema validation (ajv) of the machine-readable outputs the package ships schemas for.
import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';

const ajv = new Ajv({ allErrors: true });
const infoSchema = JSON.parse(readFileSync(new URL('./info.schema.json', import.meta.url), 'utf8')) as object;
const validateInfo = ajv.compile(infoSchema);

/** undefined when valid, else a readable list of schema violations. */
export function validateInfoJson(value: unknown): string | undefined {
  // Validate the JSON text form, exactly what a consumer reads.
  const parsed = JSON.parse(JSON.stringify(value)) as unknown;
  if (validateInfo(parsed)) return undefined;
  return ajv.errorsText(validateInfo.errors, { separator: '; ' });
}

const profileSchema = JSON.parse(
  readFileSync(new URL('./profile.schema.json', import.meta.url), 'utf8'),
) as object;
const validateProfile = ajv.compile(profileSchema);

/** `fcnc profile --json`: undefined when valid, else a readable list of schema violations. */
export function validateProfileJson(value: unknown): string | undefined {
  const parsed = JSON.parse(JSON.stringify(value)) as unknown;
  if (validateProfile(parsed)) return undefined;
  return ajv.errorsText(validateProfile.errors, { separator: '; ' });
}

const benchSchema = JSON.parse(
  readFileSync(new URL('./bench.schema.json', import.meta.url), 'utf8'),
) as object;
const validateBench = ajv.compile(benchSchema);

/** `fcnc bench --json`: undefined when valid, else a readable list of schema violations. */
export function validateBenchJson(value: unknown): string | undefined {
  const parsed = JSON.parse(JSON.stringify(value)) as unknown;
  if (validateBench(parsed)) return undefined;
  return ajv.errorsText(validateBench.errors, { separator: '; ' });
}
