// The parts of mailauth 4 we use; it ships no type declarations.
declare module 'mailauth/lib/spf/index.js' {
  export type Resolver = (name: string, type: string) => Promise<unknown>;
  export function spf(options: {
    sender: string;
    ip: string;
    helo: string;
    mta: string;
    resolver?: Resolver;
  }): Promise<{ status: { result: 'pass' | 'fail' | 'softfail' | 'neutral' | 'none' | 'permerror' | 'temperror'; comment: string | false } }>;
}

declare module 'mailauth/lib/dkim/verify.js' {
  export function dkimVerify(
    message: Buffer,
    options: { resolver?: (name: string, type: string) => Promise<unknown>; sender?: string },
  ): Promise<{
    headerFrom: string[] | false;
    results: { signingDomain?: string; status: { result: string; comment?: string | false; aligned?: string | false } }[];
  }>;
}

declare module 'mailauth/lib/dkim/sign.js' {
  export function dkimSign(
    message: Buffer,
    options: { signatureData: { signingDomain: string; selector: string; privateKey: string }[] },
  ): Promise<{ signatures: string; errors: unknown[] }>;
}

declare module 'mailauth/lib/tools.js' {
  export function getAlignment(fromDomain: string, domainList: string[], strict?: boolean): { domain: string } | false;
}
